//! A rejected master corrects his questionnaire and sends it again (issue 5; product.md §3.2: "re-submission
//! after rejection follows the same path"). `/m/resubmit` is the sign-up form in its resubmission mode,
//! opened with his answers on file; his phone, password and city stay. Sending it runs
//! [`signup::resubmit`] and, for each document he chose anew, replaces his passport or selfie — all in one
//! transaction. CSRF: his session's token, as on every form of `/m`.

use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;

use super::form::{Answers, Submitted, Unreadable, Upload};
use super::{BODY_LIMIT, FieldError, FormPage, Mode, remove, store};
use crate::app::AppState;
use crate::domain::ModerationStatus;
use crate::error::{Error, invalid};
use crate::signup::{self, OnFile};
use crate::uploads::{self, DocumentKind};
use crate::web::mobile::{MasterPage, MobileError, act};
use crate::web::{done, render_with};

pub fn routes() -> Router<AppState> {
    Router::new().route("/m/resubmit", get(get_form).post(post_form).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// His questionnaire on file; only a rejected master has one to correct.
async fn on_file(state: &AppState, who: &MasterPage) -> Result<OnFile, MobileError> {
    let master = who.master.id;
    let on_file = state.db.read_blocking(move |c| signup::on_file(c, master)).await.map_err(|e| who.refused(e))?;
    if on_file.moderation != ModerationStatus::Rejected {
        return Err(who.refused(Error::StateConflict { why: "not_rejected" }));
    }
    Ok(on_file)
}

fn form_page(who: &MasterPage, on_file: OnFile, answers: Answers) -> FormPage {
    FormPage {
        tr: who.tr,
        mode: Mode::Resubmit { phone: on_file.phone },
        csrf: who.csrf.clone(),
        city_name: on_file.city_name,
        districts: on_file.districts,
        answers,
        errors: Vec::new(),
        notice: None,
        again: false,
        kept: Vec::new(),
    }
}

async fn get_form(State(state): State<AppState>, who: MasterPage) -> Result<Response, MobileError> {
    let on_file = on_file(&state, &who).await?;
    let answers = Answers::on_file(&on_file);
    Ok(render_with(StatusCode::OK, &form_page(&who, on_file, answers)))
}

/// Sends the corrected questionnaire: home (now "pending moderation") when accepted, else the form again
/// with each refusal beside its field and everything typed kept. The CSRF field is checked before
/// anything is stored.
async fn post_form(State(state): State<AppState>, who: MasterPage, form: Result<Multipart, MultipartRejection>) -> Result<Response, MobileError> {
    let submitted = match form {
        Ok(form) => Submitted::read(form, &state.config.data_dir).await,
        Err(_) => Err(Unreadable::Malformed),
    };
    let submitted = match submitted {
        Ok(submitted) => submitted,
        Err(Unreadable::TooLarge) => return Err(who.refused(invalid("file", "file_size"))),
        Err(Unreadable::Malformed) => return Err(who.refused(invalid("form", "malformed"))),
        Err(Unreadable::Storage(error)) => return Err(who.refused(error)),
    };
    if submitted.csrf.as_deref() != Some(who.csrf.as_str()) {
        return Err(who.refused(Error::CsrfFailed));
    }
    match correct(&state, &who, &submitted).await {
        Ok(()) => Ok(done("/m", "m_resubmitted")),
        Err(errors) => refused(&state, &who, submitted.answers, errors).await,
    }
}

/// The form again with the refusals beside their fields; a refusal of no field (not rejected any more)
/// is the error page.
async fn refused(state: &AppState, who: &MasterPage, answers: Answers, errors: Vec<Error>) -> Result<Response, MobileError> {
    let on_file = on_file(state, who).await?;
    let mut shown = Vec::new();
    for error in errors {
        match error {
            Error::Invalid { field, .. } => shown.push(FieldError { field, message: error.message(who.tr.0) }),
            other => return Err(who.refused(other)),
        }
    }
    let page = FormPage { errors: shown, again: true, ..form_page(who, on_file, answers) };
    Ok(render_with(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// Checks the answers, stores the documents chosen anew and applies both in one transaction; a file
/// no committed row refers to (a refused one, a replaced one) is removed.
async fn correct(state: &AppState, who: &MasterPage, submitted: &Submitted) -> Result<(), Vec<Error>> {
    let mut errors = Vec::new();
    if submitted.answers.has_vehicle.is_none() {
        errors.push(invalid("has_vehicle", "required"));
    }
    let correction = submitted.correction().map_err(|e| errors.push(e)).ok();
    let mut chosen = Vec::new();
    for (kind, upload) in [(DocumentKind::Passport, &submitted.passport), (DocumentKind::Selfie, &submitted.selfie)] {
        match upload {
            Upload::File(received) => chosen.push((kind, received)),
            Upload::Missing => {}
            Upload::TooBig => errors.push(invalid(kind.as_str(), "file_size")),
        }
    }
    let (Some(correction), true) = (correction, errors.is_empty()) else { return Err(errors) };
    let mut stored = Vec::new();
    for (kind, received) in chosen {
        match store(kind, received).await {
            Ok(file) => stored.push((kind, file)),
            Err(error) => errors.push(error),
        }
    }
    let keys: Vec<String> = stored.iter().map(|(_, file)| file.storage_key.clone()).collect();
    if !errors.is_empty() {
        remove(state, keys).await;
        return Err(errors);
    }
    let outcome = act(state, who, move |tx, master, now| {
        signup::resubmit(tx, now, master, &correction)?;
        let mut replaced = Vec::new();
        for (kind, file) in &stored {
            replaced.extend(uploads::attach_master_document(tx, now, master, *kind, file)?.replaced);
        }
        Ok(replaced)
    })
    .await;
    match outcome {
        Ok(replaced) => {
            remove(state, replaced).await;
            tracing::info!(master = who.master.id, "rejected master resubmitted his questionnaire");
            Ok(())
        }
        Err(error) => {
            remove(state, keys).await;
            Err(vec![error])
        }
    }
}
