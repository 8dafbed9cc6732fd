//! [`verify`]: the whole chain checked, across rotated files, against the anchored head.

use std::path::{Path, PathBuf};

use crate::record::Record;
use crate::{AuditKey, Error, Head};

/// What [`verify`] found in a log whose every record holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// How many records.
    pub records: u64,
    /// The files read, oldest first (rotated files, then the active one).
    pub files: Vec<PathBuf>,
    /// The last record's head ([`Head::GENESIS`] for an empty log).
    pub head: Head,
    /// Bytes after the last complete record of the active file: an append cut short by a
    /// crash, never acknowledged. The writer removes them when it opens the log.
    pub torn_tail: Option<TornTail>,
}

/// An unfinished last line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// The active file.
    pub file: PathBuf,
    /// The length of its complete records, in bytes.
    pub valid_len: u64,
}

/// The log's files, oldest first: `NAME.<first seq, 12 digits>` beside it, then `NAME`.
pub(crate) fn segments(path: &Path) -> Result<Vec<(PathBuf, Option<u64>)>, Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or(Error::InvalidEntry {
            reason: "the log's file name is not UTF-8",
        })?;
    let mut rotated = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let file = entry.file_name();
        let Some(seq) = file
            .to_str()
            .and_then(|f| f.strip_prefix(name))
            .and_then(|f| f.strip_prefix('.'))
            .filter(|s| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        rotated.push((entry.path(), Some(seq)));
    }
    rotated.sort_by_key(|(_, seq)| *seq);
    if path.exists() {
        rotated.push((path.to_path_buf(), None));
    }
    Ok(rotated)
}

/// Checks every record of the log at `path` (and its rotated files) with `key`: each
/// line is a record in canonical form, numbered from 1 without gaps, chained to the one
/// before by `prev_mac`, with a valid MAC; and, given the anchored head, that the log
/// reaches it and holds that very record there. Returns the first bad record as
/// [`Error::Tampered`]. Linear in the log's size.
///
/// ```
/// use hearth_audit::{verify, AuditKey, Head};
///
/// let (key, _) = AuditKey::generate()?;
/// let empty = verify(std::path::Path::new("/nonexistent/audit.jsonl"), &key, None)?;
/// assert_eq!(empty.head, Head::GENESIS);
/// # Ok::<(), hearth_audit::Error>(())
/// ```
pub fn verify(path: &Path, key: &AuditKey, anchored: Option<&Head>) -> Result<Verified, Error> {
    let files = segments(path)?;
    let mut head = Head::GENESIS;
    let mut at_anchor = None;
    let mut torn_tail = None;
    let mut last_place = (path.to_path_buf(), 0);
    let count = files.len();
    for (i, (file, named_seq)) in files.iter().enumerate() {
        let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
        let tampered = |line: u64, seq: Option<u64>, reason: String| Error::Tampered {
            file: file.clone(),
            line,
            seq,
            reason,
        };
        let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        if complete < bytes.len() {
            if i + 1 < count {
                return Err(tampered(
                    0,
                    None,
                    "a rotated file ends in an unfinished line".into(),
                ));
            }
            torn_tail = Some(TornTail {
                file: file.clone(),
                valid_len: complete as u64,
            });
        }
        let text = std::str::from_utf8(&bytes[..complete])
            .map_err(|_| tampered(0, None, "the file is not UTF-8".into()))?;
        for (n, line) in text.split_terminator('\n').enumerate() {
            let line_no = n as u64 + 1;
            let record = Record::parse(line).map_err(|r| tampered(line_no, None, r.into()))?;
            let seq = Some(record.seq);
            if n == 0
                && let Some(named) = named_seq
                && *named != record.seq
            {
                return Err(tampered(
                    line_no,
                    seq,
                    format!("the file's name says it starts at seq {named}"),
                ));
            }
            if record.seq != head.seq + 1 {
                return Err(tampered(
                    line_no,
                    seq,
                    format!(
                        "seq {} follows seq {}: records were removed, reordered or inserted",
                        record.seq, head.seq
                    ),
                ));
            }
            if record.prev_mac != head.mac {
                return Err(tampered(
                    line_no,
                    seq,
                    "its prev_mac is not the previous record's MAC".into(),
                ));
            }
            if !record.verify_mac(key) {
                return Err(tampered(
                    line_no,
                    seq,
                    "its MAC does not match: it was edited, or written with another key".into(),
                ));
            }
            head = record.head();
            if anchored.is_some_and(|a| a.seq == head.seq) {
                at_anchor = Some((head, file.clone(), line_no));
            }
            last_place = (file.clone(), line_no);
        }
    }
    if let Some(anchor) = anchored {
        match at_anchor {
            Some((found, file, line)) if found.mac != anchor.mac => {
                return Err(Error::Tampered {
                    file,
                    line,
                    seq: Some(found.seq),
                    reason: "this is not the record the anchored head names: the log was \
                             replaced"
                        .into(),
                });
            }
            None if anchor.seq > 0 => {
                return Err(Error::Tampered {
                    file: last_place.0,
                    line: last_place.1,
                    seq: (head.seq > 0).then_some(head.seq),
                    reason: format!(
                        "the log ends at seq {}, but its anchored head is seq {}: records \
                         were cut off or an older copy was put back",
                        head.seq, anchor.seq
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(Verified {
        records: head.seq,
        files: files.into_iter().map(|(f, _)| f).collect(),
        head,
        torn_tail,
    })
}
