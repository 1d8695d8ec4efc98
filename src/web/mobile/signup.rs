//! Sign-up through an invite (issue 5, product.md §3.2, decisions §B.14): the link staff hand out,
//! `/m/invite/{token}`, or a typed code (`/m/invite` → `/m/invite/{code}`) opens the questionnaire for the
//! invite's city; a master's invitation link, `/m/signup?ref=CODE`, opens that code form and carries his
//! referral code on into the questionnaire. It is one server-rendered multipart form with a fieldset per
//! step — without JavaScript all steps show and one button sends them; `static/m/signup.js` turns it into a wizard that keeps a draft in
//! the browser. Sending it registers a PENDING master with his passport and selfie in one transaction, the
//! same rules as `POST /api/v1/masters/register` and `POST /api/v1/me/documents`.
//! The same form, in its resubmission mode, lets a rejected master correct his questionnaire
//! (`/m/resubmit`, see [`resubmit`]).
//!
//! CSRF: the visitor has no session to hold a token, so the form uses a double-submit token. The form page
//! sets a random value as a short-lived, HttpOnly, SameSite=Strict cookie scoped to `/m/invite` and echoes
//! it in a hidden field; a submission counts only when the two agree. Another site can neither read the
//! cookie nor make the browser send it with a cross-site POST.

mod form;
mod resubmit;

use askama::Template;
use axum::Router;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;

use self::form::{Answers, Submitted, Unreadable, Upload};
use crate::app::AppState;
use crate::domain::{Category, PayoutMethod};
use crate::error::{Error, invalid};
use crate::money::referrals;
use crate::signup::{self, DistrictChoice, InviteCity, Registration};
use crate::uploads::{self, DocumentKind, Holder};
use crate::auth::{self as accounts, Owner};
use crate::api::auth::session_cookie_header;
use crate::api::cookie;
use crate::web::{Tr, WebError, lang_of, render, render_with};
use crate::work::StoredFile;

/// The cookie of the double-submit CSRF token (see the module docs).
const CSRF_COOKIE: &str = "fs_signup_csrf";
/// How long the token lives: long enough to fill the questionnaire in with breaks.
const CSRF_MAX_AGE_SECONDS: i64 = 6 * 3600;
/// The field that echoes it.
const CSRF_FIELD: &str = "csrf";
/// Largest sign-up request: two files of up to 10 MiB and the text fields.
const BODY_LIMIT: usize = 24 * 1024 * 1024;
/// The questionnaire's steps (fieldsets), for "step k/n".
const STEPS: usize = 9;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/m/invite", get(get_code))
        .route("/m/signup", get(get_referred))
        .route("/m/invite/{token}", get(get_form).post(post_form).layer(DefaultBodyLimit::max(BODY_LIMIT)))
        .route("/m/signup/check", post(post_check))
        .merge(resubmit::routes())
}

// --- pages --------------------------------------------------------------------------------------------------

/// The invite-code form, also the page of an invite that cannot be used (with its reason).
#[derive(Template)]
#[template(path = "m/signup_code.html")]
struct CodePage {
    tr: Tr,
    code: String,
    refusal: Option<String>,
    /// The referral code of the invitation link that led here, carried on to the questionnaire.
    referral: String,
}

/// A refusal shown beside its field (`field` is the id of its input or of its group).
struct FieldError {
    field: &'static str,
    message: String,
}

/// Whose questionnaire the form is.
enum Mode {
    /// A newcomer's, through the invite of the link (its token or code).
    SignUp { token: String },
    /// A rejected master's own, to correct and send again; his phone and password stay.
    Resubmit { phone: String },
}

/// The questionnaire.
#[derive(Template)]
#[template(path = "m/signup.html")]
struct FormPage {
    tr: Tr,
    mode: Mode,
    csrf: String,
    city_name: String,
    districts: Vec<DistrictChoice>,
    answers: Answers,
    errors: Vec<FieldError>,
    /// A refusal that belongs to no field (a stale form's CSRF token).
    notice: Option<String>,
    /// Shown again after a refusal: the password must be given again.
    again: bool,
    /// The documents kept from a refused try (field, file name): they need not be chosen again.
    kept: Vec<(&'static str, String)>,
}

impl FormPage {
    /// The newcomer's form through `city`'s invite.
    fn sign_up(tr: Tr, token: String, csrf: String, city: InviteCity, answers: Answers) -> Self {
        let mode = Mode::SignUp { token };
        Self { tr, mode, csrf, city_name: city.city_name, districts: city.districts, answers, errors: Vec::new(), notice: None, again: false, kept: Vec::new() }
    }

    /// The file name of the document `field` kept from a refused try.
    fn kept(&self, field: &str) -> Option<&str> {
        self.kept.iter().find(|(f, _)| *f == field).map(|(_, name)| name.as_str())
    }

    /// A rejected master correcting his questionnaire (files may be left empty to keep them).
    fn resubmit(&self) -> bool {
        matches!(self.mode, Mode::Resubmit { .. })
    }

    /// The fixed phone of a resubmission.
    fn fixed_phone(&self) -> &str {
        match &self.mode {
            Mode::Resubmit { phone } => phone,
            Mode::SignUp { .. } => "",
        }
    }

    fn action(&self) -> String {
        match &self.mode {
            Mode::SignUp { token } => format!("/m/invite/{token}"),
            Mode::Resubmit { .. } => "/m/resubmit".into(),
        }
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|e| e.field == field).map(|e| e.message.as_str())
    }

    /// `aria-invalid` of an input.
    fn invalid(&self, field: &str) -> &'static str {
        if self.error(field).is_some() { "true" } else { "false" }
    }

    /// The legend's "step k/n".
    fn step(&self, k: usize) -> String {
        self.tr.t("signup.step").replace("{k}", &k.to_string()).replace("{n}", &STEPS.to_string())
    }

    fn steps(&self) -> usize {
        STEPS
    }

    /// The name parts: field, value, required, autocomplete.
    fn name_fields(&self) -> [(&'static str, &str, bool, &'static str); 3] {
        let a = &self.answers;
        [
            ("last_name", a.last_name.as_str(), true, "family-name"),
            ("first_name", a.first_name.as_str(), true, "given-name"),
            ("middle_name", a.middle_name.as_str(), false, "additional-name"),
        ]
    }

    /// The document fields and the camera each opens.
    fn documents(&self) -> [(&'static str, &'static str); 2] {
        [(DocumentKind::Passport.as_str(), "environment"), (DocumentKind::Selfie.as_str(), "user")]
    }

    fn district_checked(&self, id: &i64) -> bool {
        self.answers.district_ids.iter().any(|d| d.trim() == id.to_string())
    }

    fn categories(&self) -> &'static [Category] {
        Category::ALL
    }

    fn skill_checked(&self, category: &Category) -> bool {
        self.answers.skills.iter().any(|s| s == category.as_str())
    }

    fn payout_methods(&self) -> &'static [PayoutMethod] {
        PayoutMethod::ALL
    }

    fn vehicle_is(&self, answer: bool) -> bool {
        self.answers.has_vehicle == Some(answer)
    }
}

// --- handlers -----------------------------------------------------------------------------------------------

fn tr_of(headers: &HeaderMap, state: &AppState) -> Tr {
    Tr(lang_of(headers, state.config.language))
}

#[derive(Debug, Deserialize)]
struct CodeQuery {
    code: Option<String>,
    #[serde(rename = "ref")]
    referral: Option<String>,
}

/// The letters and digits of a typed code, upper-case, at most `max` of them.
fn code_of(raw: Option<&str>, max: usize) -> String {
    raw.unwrap_or_default().chars().filter(char::is_ascii_alphanumeric).take(max).collect::<String>().to_ascii_uppercase()
}

/// `?ref=CODE` to carry a referral code on, or nothing.
fn ref_query(referral: &str) -> String {
    if referral.is_empty() { String::new() } else { format!("?ref={referral}") }
}

/// The typed code form; a typed code goes on to its questionnaire (with the referral code, if any).
async fn get_code(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<CodeQuery>) -> Response {
    let code = code_of(query.code.as_deref(), usize::MAX);
    let referral = code_of(query.referral.as_deref(), referrals::CODE_LEN);
    if code.is_empty() {
        return render(&CodePage { tr: tr_of(&headers, &state), code, refusal: None, referral });
    }
    Redirect::to(&format!("/m/invite/{code}{}", ref_query(&referral))).into_response()
}

/// A master's invitation link (`/m/signup?ref=CODE`, product.md §3.8): sign-up still needs the city's
/// invite (decisions §B.14), so the invite-code form, which carries the referral code on to the
/// questionnaire where it is filled in.
async fn get_referred(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<CodeQuery>) -> Response {
    let referral = code_of(query.referral.as_deref(), referrals::CODE_LEN);
    render(&CodePage { tr: tr_of(&headers, &state), code: String::new(), refusal: None, referral })
}

/// A refusal of the step check, beside its field.
#[derive(serde::Serialize)]
struct CheckedField {
    field: &'static str,
    message: String,
}

/// The step check's answer: the refusals of the fields sent (none: the step may go on).
#[derive(serde::Serialize)]
struct Checked {
    errors: Vec<CheckedField>,
}

/// Checks one step's answers by the sign-up's own rules (issue 11 §3), for the wizard's "Next". It changes
/// nothing and needs no token; the answer is in the visitor's language.
async fn post_check(State(state): State<AppState>, headers: HeaderMap, axum::Form(fields): axum::Form<Vec<(String, String)>>) -> Json<Checked> {
    let tr = tr_of(&headers, &state);
    let errors = signup::check_answers(&fields)
        .into_iter()
        .filter_map(|e| match e {
            Error::Invalid { field, .. } => Some(CheckedField { field, message: e.message(tr.0) }),
            _ => None,
        })
        .collect();
    Json(Checked { errors })
}

/// Checks the invite; an unusable one answers with its page.
async fn usable(state: &AppState, tr: Tr, token: &str, referral: &str) -> Result<InviteCity, Response> {
    let (now, key) = (state.clock.now(), token.to_string());
    match state.db.read_blocking(move |c| signup::inspect_invite(c, now, &key)).await {
        Ok(city) => Ok(city),
        Err(error) => Err(unusable(tr, token, error, referral)),
    }
}

/// The page of an invite that cannot be used: its reason and the code form to try another one.
fn unusable(tr: Tr, token: &str, error: Error, referral: &str) -> Response {
    let refusal = match &error {
        Error::Invalid { field: "invite", rule } if rule == "unknown" => tr.t("signup.invite_unknown"),
        Error::Invalid { field: "invite", rule } => tr.of("rule.", rule),
        _ => return WebError::Refused(error, tr.0).into_response(),
    };
    let code = if token.len() == signup::CODE_LEN { token.to_ascii_uppercase() } else { String::new() };
    render_with(StatusCode::GONE, &CodePage { tr, code, refusal: Some(refusal), referral: referral.to_string() })
}

async fn get_form(State(state): State<AppState>, headers: HeaderMap, Path(token): Path<String>, Query(query): Query<CodeQuery>) -> Response {
    let tr = tr_of(&headers, &state);
    let referral = code_of(query.referral.as_deref(), referrals::CODE_LEN);
    let city = match usable(&state, tr, &token, &referral).await {
        Ok(city) => city,
        Err(page) => return page,
    };
    let answers = Answers { referral_code: referral, ..Answers::default() };
    let csrf = csrf_token(&headers);
    let kept = kept_documents(&state, &csrf).await;
    let page = FormPage { kept, ..FormPage::sign_up(tr, token, csrf, city, answers) };
    with_csrf_cookie(&headers, StatusCode::OK, &page)
}

async fn post_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    let tr = tr_of(&headers, &state);
    // The invite first: an unknown one is refused before its (up to 24 MB) body is read.
    let city = match usable(&state, tr, &token, "").await {
        Ok(city) => city,
        Err(page) => return page,
    };
    let submitted = match form {
        Ok(form) => Submitted::read(form, &state.config.data_dir).await,
        Err(_) => Err(Unreadable::Malformed),
    };
    let submitted = match submitted {
        Ok(submitted) => submitted,
        Err(Unreadable::TooLarge) => return WebError::Refused(invalid("file", "file_size"), tr.0).into_response(),
        Err(Unreadable::Malformed) => return WebError::Refused(invalid("form", "malformed"), tr.0).into_response(),
        Err(Unreadable::Storage(error)) => return WebError::Refused(error, tr.0).into_response(),
    };
    let sent_csrf = submitted.csrf.as_deref().unwrap_or_default();
    if sent_csrf.is_empty() || cookie(&headers, CSRF_COOKIE).as_deref() != Some(sent_csrf) {
        // Nothing is done; the form comes back with everything typed and a fresh token.
        let notice = Some(Error::CsrfFailed.message(tr.0));
        let page = FormPage { notice, again: true, ..FormPage::sign_up(tr, token, fresh_token(), city, submitted.answers) };
        return with_csrf_cookie(&headers, StatusCode::FORBIDDEN, &page);
    }
    let holder = Holder::SignUp { form_token: sent_csrf.to_string() };
    match sign_up(&state, &token, &submitted, &holder).await {
        // Signed in at once: home shows him his questionnaire waiting for moderation.
        Ok(session) => {
            let expired = HeaderValue::from_str(&format!("{CSRF_COOKIE}=; Path=/m/invite; Max-Age=0")).expect("a plain header value");
            let signed_in = session_cookie_header(&headers, &session.token, accounts::MASTER_SESSION_IDLE.num_seconds());
            (AppendHeaders([(header::SET_COOKIE, expired), (header::SET_COOKIE, signed_in)]), Redirect::to("/m?ok=signed_up")).into_response()
        }
        Err(errors) => {
            let kept = kept_documents(&state, sent_csrf).await;
            refused(&headers, tr, token, city, submitted.answers, errors, kept)
        }
    }
}

/// Shows the questionnaire again with each refusal beside its field.
fn refused(headers: &HeaderMap, tr: Tr, token: String, city: InviteCity, answers: Answers, errors: Vec<Error>, kept: Vec<(&'static str, String)>) -> Response {
    let mut shown = Vec::new();
    for error in errors {
        match error {
            Error::Invalid { field: "invite", .. } => return unusable(tr, &token, error, &answers.referral_code),
            Error::Invalid { field, .. } => shown.push(FieldError { field, message: error.message(tr.0) }),
            other => return WebError::Refused(other, tr.0).into_response(),
        }
    }
    let page = FormPage { errors: shown, again: true, kept, ..FormPage::sign_up(tr, token, csrf_token(headers), city, answers) };
    with_csrf_cookie(headers, StatusCode::UNPROCESSABLE_ENTITY, &page)
}

// --- the sign-up --------------------------------------------------------------------------------------------

/// Checks the questionnaire, keeps the chosen documents against the form (so a refusal does not lose
/// them) and registers the master with them in one transaction, signing him in. Refusals come back all
/// together where they can (the rules of `prepare` stop at their first).
async fn sign_up(state: &AppState, token: &str, submitted: &Submitted, holder: &Holder) -> Result<accounts::NewSession, Vec<Error>> {
    let mut errors = Vec::new();
    if submitted.answers.has_vehicle.is_none() {
        errors.push(invalid("has_vehicle", "required"));
    }
    let home = signup::home_location(&submitted.answers.home_location).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    for (kind, upload) in [(DocumentKind::Passport, &submitted.passport), (DocumentKind::Selfie, &submitted.selfie)] {
        if let Err(error) = hold(state, holder, kind, upload).await {
            errors.push(error);
        }
    }
    let (holder_now, now) = (holder.clone(), state.clock.now());
    let kept = state.db.read_blocking(move |c| Ok::<_, Error>((uploads::held(c, &holder_now, "passport")?, uploads::held(c, &holder_now, "selfie")?))).await;
    let (passport, selfie) = kept.map_err(|e| vec![e])?;
    for (kind, file) in [(DocumentKind::Passport, &passport), (DocumentKind::Selfie, &selfie)] {
        let named = |e: &Error| matches!(e, Error::Invalid { field, .. } if *field == kind.as_str());
        if file.is_none() && !errors.iter().any(named) {
            errors.push(invalid(kind.as_str(), "required"));
        }
    }
    // The password hash is slow: it runs before, not inside, the write transaction.
    let registration = submitted.registration(token);
    let checked = registration.as_ref().ok().cloned();
    let prepared = tokio::task::spawn_blocking(move || signup::prepare(&registration?)).await.expect("sign-up check panicked");
    let prepared = prepared.map_err(|e| errors.push(e)).ok();
    if let (None, Some(form)) = (&prepared, checked) {
        also_refused(&form, &mut errors);
    }
    let (Some(prepared), Some(passport), Some(selfie), true) = (prepared, passport, selfie, errors.is_empty()) else {
        return Err(errors);
    };
    let holder = holder.clone();
    let registered = state
        .db
        .write_blocking(move |tx| {
            let master = signup::register_prepared(tx, now, &prepared)?;
            uploads::attach_master_document(tx, now, master.id, DocumentKind::Passport, &passport)?;
            uploads::attach_master_document(tx, now, master.id, DocumentKind::Selfie, &selfie)?;
            if let Some(home) = home {
                signup::set_home(tx, master.id, home)?;
            }
            uploads::release(tx, &holder)?;
            let session = accounts::start_session(tx, now, Owner::Master(master.id))?;
            Ok::<_, Error>((master, session))
        })
        .await;
    match registered {
        Ok((master, session)) => {
            tracing::info!(master = master.id, "master signed up through an invite");
            Ok(session)
        }
        // The documents stay kept for the next try.
        Err(error) => Err(vec![error]),
    }
}

/// Keeps a newly chosen document against the form, in place of one kept before; a refused file (too big,
/// not a photo or PDF) names its field.
async fn hold(state: &AppState, holder: &Holder, kind: DocumentKind, upload: &Upload) -> Result<(), Error> {
    let received = match upload {
        Upload::Missing => return Ok(()),
        Upload::TooBig => return Err(invalid(kind.as_str(), "file_size")),
        Upload::File(received) => received,
    };
    let file = store(kind, received).await?;
    if kind == DocumentKind::Selfie && file.mime_type == "application/pdf" {
        remove(state, vec![file.storage_key]).await;
        return Err(invalid(kind.as_str(), "photo_type"));
    }
    let (holder, now, key) = (holder.clone(), state.clock.now(), file.storage_key.clone());
    match state.db.write_blocking(move |tx| uploads::hold(tx, now, &holder, kind.as_str(), &file)).await {
        Ok(replaced) => remove(state, replaced.into_iter().collect()).await,
        Err(error) => {
            remove(state, vec![key]).await;
            return Err(error);
        }
    }
    Ok(())
}

/// The documents kept for the visitor's form (by its token): field and file name.
async fn kept_documents(state: &AppState, form_token: &str) -> Vec<(&'static str, String)> {
    let holder = Holder::SignUp { form_token: form_token.to_string() };
    let kinds = [DocumentKind::Passport, DocumentKind::Selfie];
    let kept = state.db.read_blocking(move |c| kinds.iter().map(|k| Ok((k.as_str(), uploads::held(c, &holder, k.as_str())?))).collect::<Result<Vec<_>, Error>>()).await;
    kept.unwrap_or_default().into_iter().filter_map(|(field, file)| Some((field, file?.file_name))).collect()
}

/// `prepare` stops at its first refusal; these of its rules do not depend on each other, so their
/// refusals are shown together with it.
fn also_refused(form: &Registration, errors: &mut Vec<Error>) {
    let checks = [
        signup::person_name("last_name", &form.last_name).err(),
        signup::person_name("first_name", &form.first_name).err(),
        crate::password::check(&form.password).err(),
        form.payout_method.and_then(|method| signup::payout_data(method, &form.payout_data).err()),
    ];
    for error in checks.into_iter().flatten() {
        let field = |e: &Error| if let Error::Invalid { field, .. } = e { Some(*field) } else { None };
        if !errors.iter().any(|e| field(e) == field(&error)) {
            errors.push(error);
        }
    }
}

/// Keeps one document's file; a refusal names the document's field.
async fn store(kind: DocumentKind, received: &uploads::Received) -> Result<StoredFile, Error> {
    crate::api::files::keep(received.clone()).await.map_err(|e| match e {
        Error::Invalid { rule, .. } => Error::Invalid { field: kind.as_str(), rule },
        other => other,
    })
}

/// Removes stored files no committed row refers to.
async fn remove(state: &AppState, keys: Vec<String>) {
    let dir = state.config.data_dir.clone();
    let _ = tokio::task::spawn_blocking(move || keys.iter().for_each(|key| uploads::remove(&dir, key))).await;
}

// --- the double-submit CSRF token ---------------------------------------------------------------------------

fn fresh_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The visitor's token: the one his cookie already holds (a second tab or a reload keeps working), or a
/// new one.
fn csrf_token(headers: &HeaderMap) -> String {
    cookie(headers, CSRF_COOKIE).filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())).unwrap_or_else(fresh_token)
}

/// Renders the questionnaire and (re)sets the token's cookie for its hidden field.
fn with_csrf_cookie(headers: &HeaderMap, status: StatusCode, page: &FormPage) -> Response {
    let secure = if crate::api::https(headers) { "; Secure" } else { "" };
    let value = format!("{CSRF_COOKIE}={}; Path=/m/invite; HttpOnly; SameSite=Strict; Max-Age={CSRF_MAX_AGE_SECONDS}{secure}", page.csrf);
    let cookie = HeaderValue::from_str(&value).expect("a hex token is a valid header value");
    (status, [(header::SET_COOKIE, cookie), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], render(page)).into_response()
}

impl FormPage {
    fn csrf_field(&self) -> &'static str {
        CSRF_FIELD
    }

    /// The browser draft's key: one per invite. A resubmission keeps none: the form opens with what is on
    /// file, which a stale draft must not overwrite.
    fn draft_key(&self) -> String {
        match &self.mode {
            Mode::SignUp { token } => format!("fs-signup:{token}"),
            Mode::Resubmit { .. } => String::new(),
        }
    }
}
