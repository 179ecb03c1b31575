//! A patient's attachments: files (a scan, a letter) a doctor with access uploads, sealed under the
//! patient's data key. The upload answers the reference (id, media type, size, SHA-256) that the
//! entry citing the file carries (a FHIR DocumentReference's `content.attachment`), so the entry's
//! on-chain commitment covers the file. Reading one is audited like reading an entry.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use medledger_core::attachment::{AttachmentId, MAX_ATTACHMENT};

use crate::error::{AppError, Result};
use crate::extract::{Json, Path, PatientPath};
use crate::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/patients/{id}/attachments", post(upload))
        .route("/api/v1/patients/{id}/attachments/{attachment}", get(download))
}

/// `POST /api/v1/patients/{id}/attachments`: the body is the file, its `Content-Type` its media
/// type; `201` with the reference an entry cites.
async fn upload(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
    request: Request,
) -> Result<Response> {
    let media_type = media_type(request.headers())?;
    // Read here, not by the API's JSON limit: a file may be up to MAX_ATTACHMENT.
    let bytes = axum::body::to_bytes(request.into_body(), MAX_ATTACHMENT)
        .await
        .map_err(|_| {
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload too large",
                format!(
                    "an attachment is at most {} MiB (or the upload was cut off): send a smaller file",
                    MAX_ATTACHMENT / (1024 * 1024)
                ),
            )
        })?;
    if bytes.is_empty() {
        return Err(AppError::bad_request(
            "the body is empty: send the file as the body",
        ));
    }
    let reference = state
        .hospital
        .records
        .attach(caller, patient, &media_type, &bytes)
        .await?;
    let location = format!("/api/v1/patients/{patient}/attachments/{}", reference.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(reference),
    )
        .into_response())
}

/// The media type an upload names in its `Content-Type` (parameters such as `charset` dropped).
fn media_type(headers: &axum::http::HeaderMap) -> Result<String> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty());
    given.ok_or_else(|| {
        AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported media type",
            "name the file's media type in the Content-Type header (for example application/pdf)",
        )
    })
}

/// `GET /api/v1/patients/{id}/attachments/{attachment}`: the file, as the patient or a doctor who
/// may read their record. It is served as a download, never rendered as this site's page.
async fn download(
    State(state): State<AppState>,
    PatientPath { caller, patient }: PatientPath,
    Path((_, attachment)): Path<(String, String)>,
) -> Result<Response> {
    let id: AttachmentId = attachment.parse().map_err(|_| {
        AppError::bad_request(format!(
            "{attachment:?} is not an attachment id (32 hexadecimal digits)"
        ))
    })?;
    let (media_type, bytes) = state.hospital.records.attachment(caller, patient, id).await?;
    let content_type = HeaderValue::from_str(&media_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment"),
            ),
            // Whatever the file holds, it runs nothing in this site's origin.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        bytes,
    )
        .into_response())
}
