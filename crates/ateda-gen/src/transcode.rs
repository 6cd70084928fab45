//! Copies an Avro datum field by field, replacing ids and shifting times.

use apache_avro::Schema;
use ateda_decode::primitives::{read_bytes, read_fixed, read_long};

/// What to change in a template datum.
#[derive(Debug, Clone)]
pub struct Patch {
    /// New `objectId`.
    pub object_id: String,
    /// New `candid` (top level and `candidate.candid`).
    pub candid: i64,
    /// Days added to every `jd` field.
    pub jd_shift: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Keep,
    ObjectId,
    Candid,
    Jd,
}

#[derive(Debug, Clone)]
enum Node {
    Null,
    Bool,
    Varint,
    Float,
    Double,
    Bytes,
    /// Fields, then bytes appended after them (the encoded values of fields a drifted
    /// schema adds at the end of this record).
    Record(Vec<(Node, Role)>, Vec<u8>),
    Array(Box<Node>),
    Union(Vec<Node>),
}

/// A writer schema compiled for transcoding: finds every `jd` to shift into the generated night.
#[derive(Debug, Clone)]
pub struct TimeShifter {
    root: Node,
}

/// Appends a zig-zag varint.
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        let b = (z & 0x7f) as u8;
        z >>= 7;
        if z == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// The field `ateda gen --drift extra-fields` adds at the end of the top-level record and
/// of `candidate`: `["null", "double"]`, always 0.5 (union branch 1, then the double).
pub const DRIFT_FIELD: &str = "drift_score";

fn drift_value() -> Vec<u8> {
    let mut v = vec![0x02];
    v.extend_from_slice(&0.5f64.to_le_bytes());
    v
}

fn compile(
    schema: &Schema,
    names: &mut Vec<(String, Node)>,
    depth: usize,
    drift: bool,
) -> Result<Node, String> {
    Ok(match schema {
        Schema::Null => Node::Null,
        Schema::Boolean => Node::Bool,
        Schema::Int | Schema::Long => Node::Varint,
        Schema::Float => Node::Float,
        Schema::Double => Node::Double,
        Schema::String | Schema::Bytes => Node::Bytes,
        Schema::Array(a) => Node::Array(Box::new(compile(&a.items, names, depth + 1, drift)?)),
        Schema::Union(u) => Node::Union(
            u.variants()
                .iter()
                .map(|v| compile(v, names, depth + 1, drift))
                .collect::<Result<_, _>>()?,
        ),
        Schema::Record(r) => {
            let mut fields = Vec::new();
            for f in &r.fields {
                let role = match (depth, r.name.name.as_str(), f.name.as_str()) {
                    (0, _, "objectId") => Role::ObjectId,
                    (0, _, "candid") => Role::Candid,
                    (_, "candidate", "candid") => Role::Candid,
                    (_, _, "jd") => Role::Jd,
                    _ => Role::Keep,
                };
                fields.push((compile(&f.schema, names, depth + 1, drift)?, role));
            }
            let append = if drift && (depth == 0 || r.name.name == "candidate") {
                drift_value()
            } else {
                Vec::new()
            };
            let node = Node::Record(fields, append);
            names.push((r.name.name.clone(), node.clone()));
            node
        }
        Schema::Ref { name } => names
            .iter()
            .rev()
            .find(|(n, _)| *n == name.name)
            .map(|(_, node)| node.clone())
            .ok_or_else(|| format!("unknown named type {}", name.name))?,
        other => return Err(format!("unsupported Avro type {other:?}")),
    })
}

impl TimeShifter {
    /// Compiles a writer schema (JSON text).
    pub fn compile(schema: &[u8]) -> Result<TimeShifter, String> {
        Self::compile_with(schema, false)
    }

    /// Compiles a writer schema whose output gains the [`DRIFT_FIELD`]s (see
    /// [`drifted_schema`]) when `drift` is set.
    pub fn compile_with(schema: &[u8], drift: bool) -> Result<TimeShifter, String> {
        let text = std::str::from_utf8(schema).map_err(|e| e.to_string())?;
        let schema = Schema::parse_str(text).map_err(|e| e.to_string())?;
        Ok(TimeShifter {
            root: compile(&schema, &mut Vec::new(), 0, drift)?,
        })
    }

    /// Skips one datum and returns its `candidate.jd`.
    pub fn skip_and_jd(&self, buf: &mut &[u8]) -> Result<f64, String> {
        let mut jd = None;
        walk(&self.root, Role::Keep, buf, None, None, &mut jd).map_err(|e| e.to_string())?;
        jd.ok_or_else(|| "no jd field".to_string())
    }

    /// Writes `datum` with `patch` applied to `out`.
    pub fn transcode(&self, datum: &[u8], patch: &Patch, out: &mut Vec<u8>) -> Result<(), String> {
        let mut buf = datum;
        let mut jd = None;
        walk(
            &self.root,
            Role::Keep,
            &mut buf,
            Some(out),
            Some(patch),
            &mut jd,
        )
        .map_err(|e| e.to_string())
    }
}

fn walk(
    node: &Node,
    role: Role,
    buf: &mut &[u8],
    mut out: Option<&mut Vec<u8>>,
    patch: Option<&Patch>,
    first_jd: &mut Option<f64>,
) -> Result<(), ateda_decode::DecodeError> {
    let start = *buf;
    let copy = |buf: &[u8], out: Option<&mut Vec<u8>>| {
        if let Some(o) = out {
            o.extend_from_slice(&start[..start.len() - buf.len()]);
        }
    };
    match node {
        Node::Null => {}
        Node::Bool => {
            read_fixed::<1>(buf)?;
            copy(buf, out);
        }
        Node::Varint => {
            let v = read_long(buf)?;
            match (role, patch, out) {
                (Role::Candid, Some(p), Some(o)) => write_long(o, p.candid),
                (_, _, Some(o)) => write_long(o, v),
                _ => {}
            }
        }
        Node::Float => {
            read_fixed::<4>(buf)?;
            copy(buf, out);
        }
        Node::Double => {
            let v = f64::from_le_bytes(read_fixed::<8>(buf)?);
            if role == Role::Jd && first_jd.is_none() {
                *first_jd = Some(v);
            }
            if let Some(o) = out {
                let v = match (role, patch) {
                    (Role::Jd, Some(p)) => v + p.jd_shift,
                    _ => v,
                };
                o.extend_from_slice(&v.to_le_bytes());
            }
        }
        Node::Bytes => {
            let s = read_bytes(buf)?;
            match (role, patch, out) {
                (Role::ObjectId, Some(p), Some(o)) => {
                    write_long(o, p.object_id.len() as i64);
                    o.extend_from_slice(p.object_id.as_bytes());
                }
                (_, _, Some(o)) => {
                    write_long(o, s.len() as i64);
                    o.extend_from_slice(s);
                }
                _ => {}
            }
        }
        Node::Union(branches) => {
            let i = read_long(buf)?;
            let b = usize::try_from(i)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| ateda_decode::DecodeError::Invalid(format!("union branch {i}")))?;
            if let Some(o) = out.as_deref_mut() {
                write_long(o, i);
            }
            walk(b, role, buf, out, patch, first_jd)?;
        }
        Node::Record(fields, append) => {
            for (n, r) in fields {
                walk(n, *r, buf, out.as_deref_mut(), patch, first_jd)?;
            }
            if let Some(o) = out.as_deref_mut() {
                o.extend_from_slice(append);
            }
        }
        Node::Array(item) => loop {
            let count = read_long(buf)?;
            if count == 0 {
                if let Some(o) = out.as_deref_mut() {
                    write_long(o, 0);
                }
                break;
            }
            let count = if count < 0 {
                read_long(buf)?;
                count.unsigned_abs()
            } else {
                count as u64
            };
            if let Some(o) = out.as_deref_mut() {
                write_long(o, count as i64);
            }
            for _ in 0..count {
                walk(item, Role::Keep, buf, out.as_deref_mut(), patch, first_jd)?;
            }
        },
    }
    Ok(())
}

/// A writer schema with the [`DRIFT_FIELD`] added at the end of the top-level record and
/// of the `candidate` record, as a broker republishing packets with its own outputs would.
pub fn drifted_schema(schema: &[u8]) -> Result<Vec<u8>, String> {
    let mut v: serde_json::Value = serde_json::from_slice(schema).map_err(|e| e.to_string())?;
    let field = |doc: &str| serde_json::json!({"name": DRIFT_FIELD, "type": ["null", "double"], "doc": doc});
    let top = v["fields"]
        .as_array_mut()
        .ok_or("top level has no fields")?;
    let cand = top
        .iter_mut()
        .find(|f| f["name"] == "candidate")
        .ok_or("no candidate field")?;
    cand["type"]["fields"]
        .as_array_mut()
        .ok_or("candidate is not an inline record")?
        .push(field(
            "synthetic candidate field (ateda gen --drift extra-fields)",
        ));
    v["fields"]
        .as_array_mut()
        .ok_or("top level has no fields")?
        .push(field(
            "synthetic top-level field (ateda gen --drift extra-fields)",
        ));
    serde_json::to_vec(&v).map_err(|e| e.to_string())
}
