//! OperationOutcome: what went wrong, each issue with where.

use serde_json::{Value, json};

/// The kinds of issue MedLedger reports (a subset of R4's `issue-type` code set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueCode {
    /// The content does not parse or is not shaped as FHIR.
    Structure,
    /// A required element is missing.
    Required,
    /// An element's value is not allowed.
    Value,
    /// Something this server does not support.
    NotSupported,
    /// The content is not valid for another reason.
    Invalid,
    /// Not found (or not visible to the caller).
    NotFound,
    /// The caller is not signed in.
    Login,
    /// The caller may not do this.
    Forbidden,
    /// The request conflicts with the current state.
    Conflict,
    /// The server failed.
    Exception,
    /// Information, not a problem.
    Informational,
    /// Too costly: too large a body, too many results.
    TooCostly,
    /// Processing failed (a write the chain refused).
    Processing,
    /// A warning that what is served is incomplete (a version the chain holds is missing here, or
    /// was altered and is withheld).
    Incomplete,
}

impl IssueCode {
    /// The code as FHIR spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Structure => "structure",
            Self::Required => "required",
            Self::Value => "value",
            Self::NotSupported => "not-supported",
            Self::Invalid => "invalid",
            Self::NotFound => "not-found",
            Self::Login => "login",
            Self::Forbidden => "forbidden",
            Self::Conflict => "conflict",
            Self::Exception => "exception",
            Self::Incomplete => "incomplete",
            Self::Informational => "informational",
            Self::TooCostly => "too-costly",
            Self::Processing => "processing",
        }
    }
}

/// One issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// What kind of issue.
    pub code: IssueCode,
    /// What is wrong and what to do about it.
    pub diagnostics: String,
    /// Where, as a FHIRPath expression (`Condition.code.coding[0].system`), if in the content.
    pub expression: Option<String>,
}

impl Issue {
    /// An issue at `path`.
    pub fn at(code: IssueCode, path: &str, diagnostics: impl Into<String>) -> Self {
        Self {
            code,
            diagnostics: diagnostics.into(),
            expression: Some(path.to_owned()),
        }
    }

    /// An issue not tied to one element.
    pub fn new(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self {
            code,
            diagnostics: diagnostics.into(),
            expression: None,
        }
    }
}

/// An OperationOutcome: the error of every FHIR operation that fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The issues, at least one.
    pub issues: Vec<Issue>,
}

impl Outcome {
    /// An outcome of one issue.
    pub fn one(code: IssueCode, diagnostics: impl Into<String>) -> Self {
        Self {
            issues: vec![Issue::new(code, diagnostics)],
        }
    }

    /// The first issue's code.
    pub fn code(&self) -> IssueCode {
        self.issues.first().map_or(IssueCode::Exception, |i| i.code)
    }

    /// The OperationOutcome resource, every issue with severity `error` (`information` for an
    /// informational one, `warning` for an incomplete answer).
    pub fn to_resource(&self) -> Value {
        let issues: Vec<Value> = self
            .issues
            .iter()
            .map(|i| {
                let severity = match i.code {
                    IssueCode::Informational => "information",
                    IssueCode::Incomplete => "warning",
                    _ => "error",
                };
                let mut issue = json!({
                    "severity": severity,
                    "code": i.code.as_str(),
                    "diagnostics": i.diagnostics,
                });
                if let Some(path) = &i.expression {
                    issue["expression"] = json!([path]);
                }
                issue
            })
            .collect();
        json!({ "resourceType": "OperationOutcome", "issue": issues })
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, issue) in self.issues.iter().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            if let Some(path) = &issue.expression {
                write!(f, "{path}: ")?;
            }
            f.write_str(&issue.diagnostics)?;
        }
        Ok(())
    }
}

impl std::error::Error for Outcome {}

impl From<Issue> for Outcome {
    fn from(issue: Issue) -> Self {
        Self { issues: vec![issue] }
    }
}
