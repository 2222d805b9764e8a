//! Sensor checkpoints: for each file, how far it has been read *and acked by the broker*.
//!
//! The store is one JSON file per (agency, sensor) in the checkpoint directory, replaced
//! atomically (write to a temporary file, fsync, rename, fsync the directory), so a SIGKILL at
//! any moment leaves either the previous or the next checkpoint, never a torn one. A checkpoint
//! only ever moves to a position whose every earlier record was acked, so a restart re-reads at
//! most the records after it — which reproduce the same event ids.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::SourceError;

/// Where one source was when last checkpointed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Hex fingerprint of the source (a hash of its first record), so a rotated or replaced
    /// file is recognised as a different file.
    pub fingerprint: String,
    /// Byte offset after the last acked record (record count for `.evtx`).
    pub offset: u64,
    /// Lines (or records) consumed up to `offset`.
    pub line: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    agency: String,
    sensor: String,
    sources: BTreeMap<String, Position>,
}

/// The checkpoints of one sensor.
#[derive(Debug)]
pub struct CheckpointStore {
    path: Option<PathBuf>,
    data: FileFormat,
    dirty: bool,
}

impl CheckpointStore {
    /// A store that keeps nothing (no `--checkpoint-dir`): every run starts from the beginning.
    pub fn in_memory(agency: &str, sensor: &str) -> Self {
        Self {
            path: None,
            data: FileFormat {
                version: 1,
                agency: agency.into(),
                sensor: sensor.into(),
                sources: BTreeMap::new(),
            },
            dirty: false,
        }
    }

    /// Opens (or starts) the store for `agency`/`sensor` in `dir`, creating the directory.
    pub fn open(dir: &Path, agency: &str, sensor: &str) -> Result<Self, SourceError> {
        std::fs::create_dir_all(dir).map_err(|e| SourceError::io(dir, e))?;
        let path = dir.join(format!("{agency}.{sensor}.checkpoints.json"));
        let data = match std::fs::read(&path) {
            Ok(bytes) => {
                let data: FileFormat =
                    serde_json::from_slice(&bytes).map_err(|e| SourceError::Checkpoint {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                if data.version != 1 {
                    return Err(SourceError::Checkpoint {
                        path,
                        message: format!("unsupported checkpoint version {}", data.version),
                    });
                }
                if data.agency != agency || data.sensor != sensor {
                    return Err(SourceError::Checkpoint {
                        path,
                        message: format!(
                            "belongs to agency {:?} sensor {:?}, not {agency:?} {sensor:?}",
                            data.agency, data.sensor
                        ),
                    });
                }
                data
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => FileFormat {
                version: 1,
                agency: agency.into(),
                sensor: sensor.into(),
                sources: BTreeMap::new(),
            },
            Err(e) => return Err(SourceError::io(&path, e)),
        };
        Ok(Self {
            path: Some(path),
            data,
            dirty: false,
        })
    }

    pub fn get(&self, source: &str) -> Option<&Position> {
        self.data.sources.get(source)
    }

    /// Records a new position. Positions of the same fingerprint only move forward.
    pub fn set(&mut self, source: &str, pos: Position) {
        match self.data.sources.get(source) {
            Some(old) if old.fingerprint == pos.fingerprint && old.offset >= pos.offset => {}
            _ => {
                self.data.sources.insert(source.to_string(), pos);
                self.dirty = true;
            }
        }
    }

    /// Writes the store if it changed since the last save.
    pub fn save(&mut self) -> Result<(), SourceError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if !self.dirty {
            return Ok(());
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.data).expect("checkpoints serialise");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| SourceError::io(path, e))?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(fp: &str, offset: u64) -> Position {
        Position {
            fingerprint: fp.into(),
            offset,
            line: offset / 10,
        }
    }

    #[test]
    fn persists_and_only_moves_forward() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::open(dir.path(), "byt", "s1").unwrap();
        s.set("/a", pos("f1", 100));
        s.set("/a", pos("f1", 50));
        s.save().unwrap();
        let s2 = CheckpointStore::open(dir.path(), "byt", "s1").unwrap();
        assert_eq!(s2.get("/a"), Some(&pos("f1", 100)));
        // A different file at the same path replaces the position.
        let mut s3 = s2;
        s3.set("/a", pos("f2", 10));
        assert_eq!(s3.get("/a"), Some(&pos("f2", 10)));
    }

    #[test]
    fn refuses_another_sensors_store_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = CheckpointStore::open(dir.path(), "byt", "s1").unwrap();
        s.set("/a", pos("f", 1));
        s.save().unwrap();
        std::fs::copy(
            dir.path().join("byt.s1.checkpoints.json"),
            dir.path().join("byt.s2.checkpoints.json"),
        )
        .unwrap();
        let err = CheckpointStore::open(dir.path(), "byt", "s2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("belongs to"), "{err}");
        std::fs::write(dir.path().join("x.y.checkpoints.json"), b"{not json").unwrap();
        let err = CheckpointStore::open(dir.path(), "x", "y")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.y.checkpoints.json"), "{err}");
    }
}
