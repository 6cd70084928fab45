//! `ateda status`: which component of a deployed stack is not ready, and why.

use std::process::ExitCode;

use clap::Args;

/// Arguments of `ateda status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Namespace the stack was deployed to (helmfile default: ateda).
    #[arg(long, short, default_value = "ateda")]
    namespace: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `ateda status` (uses the current kubeconfig context, or in-cluster config).
pub fn run(a: StatusArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ateda status: error: {e}");
            return ExitCode::from(1);
        }
    };
    let statuses = match runtime.block_on(ateda_kube::check_stack(&a.namespace)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ateda status: error: {e}");
            return ExitCode::from(1);
        }
    };
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&statuses).unwrap_or_default()
        );
    } else {
        for s in &statuses {
            let mark = if s.is_ready() {
                "ready    "
            } else {
                "NOT READY"
            };
            let workload = if s.workload.is_empty() {
                "-"
            } else {
                &s.workload
            };
            println!(
                "{mark} {:18} {:40} {}/{}",
                s.component, workload, s.ready, s.desired
            );
            for r in &s.reasons {
                println!("          - {r}");
            }
        }
    }
    if statuses.iter().all(|s| s.is_ready()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}
