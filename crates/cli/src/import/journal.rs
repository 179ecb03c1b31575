//! The journal beside an import's input: each request as it is made, each anchoring as it
//! happens, so that an interrupted import resumes where it stopped.

use super::*;

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub(super) enum Line {
    /// A transaction was accepted: its request and what to sign.
    Requested {
        file: String,
        chunk: usize,
        request: i64,
        typed_data: Value,
        patient: String,
        /// Where the server put the transaction's entries (its 202's locations, in order).
        #[serde(default)]
        locations: Vec<String>,
    },
    /// It was anchored.
    Anchored { file: String, chunk: usize },
    /// The Bundle was not imported (a later run tries again).
    Failed { file: String, reason: String },
}

/// A transaction requested: its request, what to sign, its patient, where its entries went.
#[derive(Debug, Clone)]
pub(super) struct Requested {
    pub(super) request: i64,
    pub(super) typed_data: Value,
    pub(super) patient: String,
    pub(super) locations: Vec<String>,
}

/// The journal: what earlier runs did, and an append-only file for what this one does.
pub(super) struct Journal {
    pub(super) file: std::fs::File,
    pub(super) requested: HashMap<(String, usize), Requested>,
    pub(super) anchored: std::collections::HashSet<(String, usize)>,
}

impl Journal {
    pub(super) fn open(path: &Path) -> anyhow::Result<Self> {
        let mut journal = Self {
            file: std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the journal {}", path.display()))?,
            requested: HashMap::new(),
            anchored: Default::default(),
        };
        let text = std::fs::read_to_string(path)?;
        // A line cut short by a crash must not swallow the next one written.
        if !text.is_empty() && !text.ends_with('\n') {
            journal.file.write_all(b"\n")?;
        }
        for line in text.lines() {
            // A line cut short by a crash is the last one, and was never acted upon.
            let Ok(line) = serde_json::from_str::<Line>(line) else {
                continue;
            };
            journal.note(line);
        }
        Ok(journal)
    }

    pub(super) fn note(&mut self, line: Line) {
        match line {
            Line::Requested {
                file,
                chunk,
                request,
                typed_data,
                patient,
                locations,
            } => {
                self.requested.insert(
                    (file, chunk),
                    Requested {
                        request,
                        typed_data,
                        patient,
                        locations,
                    },
                );
            }
            Line::Anchored { file, chunk } => {
                self.anchored.insert((file, chunk));
            }
            // Kept for whoever reads the journal; a later run tries the Bundle again.
            Line::Failed { .. } => {}
        }
    }

    /// Appends a line and syncs it before anything acts on it.
    pub(super) fn write(&mut self, line: Line) -> anyhow::Result<()> {
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        self.file.write_all(text.as_bytes())?;
        self.file.sync_data()?;
        self.note(line);
        Ok(())
    }

    pub(super) fn knows(&self, request: i64) -> bool {
        self.requested.values().any(|r| r.request == request)
    }
}
