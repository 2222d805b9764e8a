//! The loader: definition files, directories and raw list files in; lists and reports out.
//!
//! [`IocLoader::add_path`] takes
//! - a definition file (`.yaml`/`.yml`, see [`super::definition`]);
//! - a directory, walked recursively in name order: if it holds YAML files, those are the
//!   definitions loaded (other files being their data); otherwise its `.txt`, `.list`, `.csv`
//!   and `.json` files are loaded as raw lists; anything else is ignored;
//! - a raw list file given directly. Its format is detected: `.json` with `type` and `list` is
//!   a warninglist, other `.json` MISP event JSON, `.csv` a MISP CSV export, anything else a
//!   maltrail trail file if its first lines mention maltrail, else a plain list. Its kind is
//!   `unknown`, its id the file name without extension (`list.json` takes its folder's name),
//!   its title the file name, its level medium.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use canhgac_core::detection::{Bilingual, Level};

use super::collect::{Collector, ListReport, LoadedList};
use super::definition::{parse_definition, Definition, ListFormat, ListMeta, ListRole};
use super::error::IocError;
use super::set::IocSet;
use super::warninglist;
use super::{misp, parse};

/// Loads IOC lists; [`IocLoader::build`] compiles them into an [`IocSet`].
#[derive(Default)]
pub struct IocLoader {
    vars: BTreeMap<String, String>,
    lists: Vec<LoadedList>,
    ids: HashMap<String, PathBuf>,
}

fn read(path: &Path) -> Result<String, IocError> {
    let bytes = std::fs::read(path).map_err(|source| IocError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

fn ext(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), IocError> {
    let io = |source| IocError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The format of a raw list file, detected from its name and content.
pub fn detect_format(path: &Path, text: &str) -> Result<ListFormat, IocError> {
    match ext(path).as_str() {
        "json" => {
            let v: serde_json::Value = serde_json::from_str(text).map_err(|e| IocError::Parse {
                path: path.to_path_buf(),
                line: Some(e.line() as u64),
                message: format!("json: {e}"),
            })?;
            if v.get("list").is_some() && v.get("type").is_some() {
                Ok(ListFormat::Warninglist)
            } else {
                Ok(ListFormat::MispJson)
            }
        }
        "csv" => Ok(ListFormat::MispCsv),
        "yaml" | "yml" => Err(IocError::UnknownFormat {
            path: path.to_path_buf(),
            message: "a YAML file is a list definition, not a list".into(),
        }),
        _ => {
            let head: String = text.lines().take(5).collect::<Vec<_>>().join("\n");
            if head.to_ascii_lowercase().contains("maltrail") {
                Ok(ListFormat::Maltrail)
            } else {
                Ok(ListFormat::Plain)
            }
        }
    }
}

/// Files of a list's directory that belong to its format.
fn list_files(format: ListFormat, dir: &Path) -> Result<Vec<PathBuf>, IocError> {
    let mut all = Vec::new();
    walk(dir, &mut all)?;
    let wanted: &[&str] = match format {
        ListFormat::Plain | ListFormat::Maltrail => &["txt", "list"],
        ListFormat::MispJson | ListFormat::Warninglist => &["json"],
        ListFormat::MispCsv => &["csv"],
    };
    all.retain(|p| wanted.contains(&ext(p).as_str()));
    Ok(all)
}

/// Metadata of a list loaded without a definition.
fn raw_meta(id: String, title: String, format: ListFormat, path: &Path) -> ListMeta {
    let role = match format {
        ListFormat::Warninglist => ListRole::Allowlist,
        _ => ListRole::Indicators,
    };
    ListMeta {
        id,
        title,
        kind: if role == ListRole::Allowlist {
            "allowlist"
        } else {
            "unknown"
        }
        .into(),
        format,
        role,
        level: Level::Medium,
        description: None,
        guidance: Bilingual::default(),
        author: None,
        references: Vec::new(),
        family_kinds: BTreeMap::new(),
        path: path.to_path_buf(),
        definition: None,
    }
}

/// Parses one file of a list into the collector.
fn parse_file(
    meta: &ListMeta,
    require_to_ids: bool,
    is_dir: bool,
    f: &Path,
    text: &str,
    c: &mut Collector,
) -> Result<(), IocError> {
    c.report.files += 1;
    let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    match meta.format {
        ListFormat::Plain | ListFormat::Maltrail => {
            let label = (meta.format == ListFormat::Maltrail || is_dir).then(|| c.label(stem));
            parse::parse_lines(text, f, label, meta.format == ListFormat::Maltrail, c);
        }
        ListFormat::MispJson => misp::parse_json(text, f, require_to_ids, c)?,
        ListFormat::MispCsv => misp::parse_csv(text, f, require_to_ids, c)?,
        ListFormat::Warninglist => {
            let mut warnings = Vec::new();
            let w = warninglist::parse(text, f, &mut |l, m| warnings.push((l, m)))?;
            for (l, m) in warnings {
                c.warn(f, l, m);
            }
            c.report.records += w.entries.len() as u64;
            if w.entries.is_empty() {
                return Err(IocError::Empty {
                    path: f.to_path_buf(),
                    id: format!("{} ({})", meta.id, w.name),
                    skipped: c.report.skipped,
                });
            }
            c.report
                .warninglists
                .push((w.name.clone(), w.ty.as_str().into(), w.entries.len()));
            c.warninglists.push(w);
        }
    }
    Ok(())
}

impl IocLoader {
    pub fn new() -> IocLoader {
        IocLoader::default()
    }

    /// Sets a variable for `${NAME}` in definition paths (taking precedence over the
    /// environment), e.g. `CANHGAC_DATA` → `../shared/data`.
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> IocLoader {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// Loads a definition file, a directory or a raw list file (module docs). Returns the
    /// number of lists added.
    pub fn add_path(&mut self, path: &Path) -> Result<usize, IocError> {
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files)?;
            let is_def = |f: &PathBuf| matches!(ext(f).as_str(), "yaml" | "yml");
            let mut n = 0;
            if files.iter().any(is_def) {
                // A directory of definitions: other files are the definitions' data.
                for f in files.iter().filter(|f| is_def(f)) {
                    self.add_definition(f)?;
                    n += 1;
                }
            } else {
                for f in &files {
                    if matches!(ext(f).as_str(), "txt" | "list" | "csv" | "json") {
                        self.add_raw(f, None)?;
                        n += 1;
                    }
                }
            }
            return Ok(n);
        }
        match ext(path).as_str() {
            "yaml" | "yml" => self.add_definition(path)?,
            _ => self.add_raw(path, None)?,
        }
        Ok(1)
    }

    /// Loads the list a definition file describes.
    pub fn add_definition(&mut self, path: &Path) -> Result<(), IocError> {
        let text = read(path)?;
        self.add_definition_str(&text, path)
    }

    /// Loads the list a definition describes; `origin` names the definition (relative paths
    /// resolve against its directory).
    pub fn add_definition_str(&mut self, text: &str, origin: &Path) -> Result<(), IocError> {
        let def = parse_definition(text, origin, &self.vars)?;
        self.load(def, origin)
    }

    /// Loads a raw list file with the given format, or the detected one (module docs).
    pub fn add_raw(&mut self, path: &Path, format: Option<ListFormat>) -> Result<(), IocError> {
        let text = read(path)?;
        let format = match format {
            Some(f) => f,
            None => detect_format(path, &text)?,
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("list")
            .to_string();
        let parent = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        let mut id = if stem == "list" && !parent.is_empty() {
            parent.clone()
        } else {
            stem.clone()
        };
        if self.ids.contains_key(&id) && !parent.is_empty() {
            id = format!("{parent}-{stem}");
        }
        let id: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let title = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("list")
            .to_string();
        let meta = raw_meta(id, title, format, path);
        self.load(
            Definition {
                meta,
                require_to_ids: true,
            },
            path,
        )
    }

    /// Loads a list from text in memory (`id` also names it in messages), with kind `kind`;
    /// for embedding and tests.
    pub fn add_text(
        &mut self,
        id: &str,
        kind: &str,
        format: ListFormat,
        text: &str,
    ) -> Result<(), IocError> {
        let path = PathBuf::from(format!("<{id}>"));
        let mut meta = raw_meta(id.to_string(), id.to_string(), format, &path);
        meta.kind = kind.to_string();
        self.check_id(&meta.id, &path)?;
        let mut c = Collector::new(&meta.id);
        c.report.format = Some(format);
        parse_file(&meta, true, false, &path, text, &mut c)?;
        self.finish(meta, c, &path)
    }

    fn check_id(&self, id: &str, origin: &Path) -> Result<(), IocError> {
        match self.ids.get(id) {
            Some(first) => Err(IocError::DuplicateId {
                path: origin.to_path_buf(),
                id: id.to_string(),
                first: first.clone(),
            }),
            None => Ok(()),
        }
    }

    fn load(&mut self, def: Definition, origin: &Path) -> Result<(), IocError> {
        self.check_id(&def.meta.id, origin)?;
        let meta = def.meta;
        let is_dir = meta.path.is_dir();
        let files = if is_dir {
            list_files(meta.format, &meta.path)?
        } else if meta.path.is_file() {
            vec![meta.path.clone()]
        } else {
            return Err(IocError::Io {
                path: meta.path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("list {} has no such file or directory", meta.id),
                ),
            });
        };
        let mut c = Collector::new(&meta.id);
        c.report.format = Some(meta.format);
        for f in &files {
            let text = read(f)?;
            parse_file(&meta, def.require_to_ids, is_dir, f, &text, &mut c)?;
        }
        self.finish(meta, c, origin)
    }

    fn finish(&mut self, meta: ListMeta, c: Collector, origin: &Path) -> Result<(), IocError> {
        if c.entries.is_empty() && c.warninglists.is_empty() {
            return Err(IocError::Empty {
                path: meta.path.clone(),
                id: meta.id.clone(),
                skipped: c.report.skipped + c.report.not_ids,
            });
        }
        self.ids.insert(meta.id.clone(), origin.to_path_buf());
        self.lists.push(LoadedList { meta, collected: c });
        Ok(())
    }

    /// Reports of the lists loaded so far (`distinct` is set by [`IocLoader::build`]).
    pub fn reports(&self) -> Vec<&ListReport> {
        self.lists.iter().map(|l| &l.collected.report).collect()
    }

    /// Compiles every loaded list into one [`IocSet`].
    pub fn build(self) -> (IocSet, Vec<ListReport>) {
        IocSet::compile(self.lists)
    }
}
