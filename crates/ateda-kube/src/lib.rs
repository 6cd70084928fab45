//! Health of a deployed ATEDA stack, read from the Kubernetes API.
//!
//! [`check_stack`] lists the Deployments and StatefulSets of a namespace,
//! matches them to the platform's components (MinIO, PostgreSQL, Nessie,
//! StarRocks, Spark operator, Dagster) and, for any workload that is not
//! ready, reads its pods to say why (image pull errors, crash loops,
//! unschedulable pods...). The judgement itself ([`assess`]) is a pure
//! function of the objects, so it is unit-tested without a cluster.

#![deny(missing_docs)]

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client};
use serde::Serialize;

/// Errors talking to the cluster.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// No kubeconfig / in-cluster config, or the API refused.
    #[error("kubernetes API: {0}")]
    Api(#[from] kube::Error),
}

/// The platform's components and the workload-name fragments that identify them.
pub const COMPONENTS: &[(&str, &[&str])] = &[
    ("minio", &["minio"]),
    ("postgresql", &["postgres"]),
    ("nessie", &["nessie"]),
    ("starrocks-fe", &["starrocks-fe", "-fe"]),
    ("starrocks-be", &["starrocks-be", "-be"]),
    ("spark-operator", &["spark-operator", "spark"]),
    ("dagster-webserver", &["dagster-webserver"]),
    ("dagster-daemon", &["dagster-daemon"]),
];

/// Readiness of one workload.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Status {
    /// Component name (or workload name when it matches none).
    pub component: String,
    /// `Deployment/name` or `StatefulSet/name`; empty when missing.
    pub workload: String,
    /// Ready replicas.
    pub ready: i32,
    /// Desired replicas.
    pub desired: i32,
    /// Why it is not ready (empty when ready).
    pub reasons: Vec<String>,
}

impl Status {
    /// True when every desired replica is ready.
    pub fn is_ready(&self) -> bool {
        !self.workload.is_empty() && self.ready >= self.desired && self.reasons.is_empty()
    }
}

/// Reasons a set of pods is not running, most specific first.
pub fn pod_reasons(pods: &[Pod]) -> Vec<String> {
    let mut out = Vec::new();
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let Some(status) = &pod.status else { continue };
        for c in status.conditions.iter().flatten() {
            if c.type_ == "PodScheduled" && c.status == "False" {
                out.push(format!(
                    "pod {name} unschedulable: {}",
                    c.message.clone().or(c.reason.clone()).unwrap_or_default()
                ));
            }
        }
        let containers = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten());
        for cs in containers {
            let Some(state) = &cs.state else { continue };
            if let Some(w) = &state.waiting {
                let reason = w.reason.clone().unwrap_or_else(|| "Waiting".into());
                let msg = w
                    .message
                    .clone()
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                out.push(format!("pod {name} container {} {reason}{msg}", cs.name));
            } else if let Some(t) = &state.terminated {
                if t.exit_code != 0 {
                    out.push(format!(
                        "pod {name} container {} exited {} ({})",
                        cs.name,
                        t.exit_code,
                        t.reason.clone().unwrap_or_default()
                    ));
                }
            } else if !cs.ready && state.running.is_some() {
                out.push(format!(
                    "pod {name} container {} running but not ready (readiness probe failing; restarts: {})",
                    cs.name, cs.restart_count
                ));
            }
        }
    }
    out
}

fn component_of(workload: &str) -> String {
    COMPONENTS
        .iter()
        .find(|(_, frags)| frags.iter().any(|f| workload.contains(f)))
        .map(|(c, _)| c.to_string())
        .unwrap_or_else(|| workload.to_string())
}

/// Judges one workload from its replica counts and its pods.
pub fn assess(kind: &str, name: &str, desired: i32, ready: i32, pods: &[Pod]) -> Status {
    let reasons = if ready >= desired {
        Vec::new()
    } else {
        let mut r = pod_reasons(pods);
        if r.is_empty() {
            r.push(if pods.is_empty() {
                "no pods created yet (check events: quota, admission, missing service account)"
                    .to_string()
            } else {
                format!("{ready}/{desired} replicas ready; pods are starting")
            });
        }
        r
    };
    Status {
        component: component_of(name),
        workload: format!("{kind}/{name}"),
        ready,
        desired,
        reasons,
    }
}

/// Components that no workload matches.
pub fn missing(statuses: &[Status]) -> Vec<Status> {
    COMPONENTS
        .iter()
        .filter(|(c, _)| !statuses.iter().any(|s| s.component == *c))
        .map(|(c, _)| Status {
            component: c.to_string(),
            workload: String::new(),
            ready: 0,
            desired: 1,
            reasons: vec!["no Deployment or StatefulSet found (release not installed?)".into()],
        })
        .collect()
}

fn selector(labels: Option<&BTreeMap<String, String>>) -> Option<String> {
    let l = labels?;
    Some(
        l.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Reads the namespace's workloads and judges each, plus missing components.
pub async fn check_stack(namespace: &str) -> Result<Vec<Status>, KubeError> {
    let client = Client::try_default().await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for d in deployments.list(&ListParams::default()).await? {
        let name = d.metadata.name.clone().unwrap_or_default();
        let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let ready = d
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let sel = selector(
            d.spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.as_ref()),
        );
        let p = match (ready < desired, sel) {
            (true, Some(sel)) => pods.list(&ListParams::default().labels(&sel)).await?.items,
            _ => Vec::new(),
        };
        out.push(assess("Deployment", &name, desired, ready, &p));
    }
    let sets: Api<StatefulSet> = Api::namespaced(client, namespace);
    for s in sets.list(&ListParams::default()).await? {
        let name = s.metadata.name.clone().unwrap_or_default();
        let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        let ready = s
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let sel = selector(
            s.spec
                .as_ref()
                .and_then(|s| s.selector.match_labels.as_ref()),
        );
        let p = match (ready < desired, sel) {
            (true, Some(sel)) => pods.list(&ListParams::default().labels(&sel)).await?.items,
            _ => Vec::new(),
        };
        out.push(assess("StatefulSet", &name, desired, ready, &p));
    }
    let gone = missing(&out);
    out.extend(gone);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateWaiting, ContainerStatus, PodCondition, PodStatus,
    };

    fn pod(name: &str, status: PodStatus) -> Pod {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.status = Some(status);
        p
    }

    #[test]
    fn image_pull_error_is_named() {
        let status = PodStatus {
            container_statuses: Some(vec![ContainerStatus {
                name: "nessie".into(),
                state: Some(ContainerState {
                    waiting: Some(ContainerStateWaiting {
                        reason: Some("ImagePullBackOff".into()),
                        message: Some("pull access denied".into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let s = assess(
            "Deployment",
            "ateda-nessie",
            1,
            0,
            &[pod("nessie-0", status)],
        );
        assert_eq!(s.component, "nessie");
        assert!(!s.is_ready());
        assert!(
            s.reasons[0].contains("ImagePullBackOff: pull access denied"),
            "{:?}",
            s.reasons
        );
    }

    #[test]
    fn unschedulable_and_ready() {
        let status = PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                message: Some("0/1 nodes available: insufficient memory".into()),
                ..Default::default()
            }]),
            ..Default::default()
        };
        let s = assess("StatefulSet", "starrocks-be", 1, 0, &[pod("be-0", status)]);
        assert_eq!(s.component, "starrocks-be");
        assert!(s.reasons[0].contains("insufficient memory"));
        let ok = assess("Deployment", "minio", 1, 1, &[]);
        assert!(ok.is_ready());
        let gone = missing(&[ok]);
        assert!(gone
            .iter()
            .any(|g| g.component == "nessie" && !g.is_ready()));
        assert!(!gone.iter().any(|g| g.component == "minio"));
    }
}
