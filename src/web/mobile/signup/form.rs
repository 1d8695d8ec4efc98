//! The submitted questionnaire: read from the multipart form as typed, then turned into the rules'
//! [`Registration`]. What cannot be turned (an unknown skill, a district id that is not a number) is refused
//! on its field like any other rule.

use std::path::Path;

use axum::extract::multipart::Multipart;

use crate::api::files::{Parts, ReadError};
use crate::domain::{Category, DistrictId, PayoutMethod};
use crate::error::{Error, invalid};
use crate::signup::{Correction, OnFile, Registration};
use crate::uploads::Received;

/// Everything typed into the questionnaire, kept to show the form again after a refusal. The password is
/// not among them: it is never written back into a page.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub pdn_consent: bool,
    pub last_name: String,
    pub first_name: String,
    pub middle_name: String,
    pub phone: String,
    pub referral_code: String,
    pub district_ids: Vec<String>,
    /// `None` until "has a car" is answered.
    pub has_vehicle: Option<bool>,
    pub skills: Vec<String>,
    pub payout_method: String,
    pub payout_data: String,
    pub home_location: String,
}

/// A file field of the form.
#[derive(Debug, Default)]
pub enum Upload {
    /// No file chosen.
    #[default]
    Missing,
    /// Over the upload limit (read to its end and dropped).
    TooBig,
    /// The file, received on disk.
    File(Received),
}

/// The whole submitted form.
#[derive(Debug, Default)]
pub struct Submitted {
    /// The double-submit CSRF field.
    pub csrf: Option<String>,
    pub answers: Answers,
    pub password: String,
    pub passport: Upload,
    pub selfie: Upload,
}

/// The ticked and chosen answers, parsed.
struct Choices {
    district_ids: Vec<DistrictId>,
    skills: Vec<Category>,
    payout_method: Option<PayoutMethod>,
}

/// Why a form could not be read at all.
pub enum Unreadable {
    /// The body is over the route's limit.
    TooLarge,
    /// Not a multipart form.
    Malformed,
    /// A text field too long, or a file that could not be written to the data directory.
    Storage(Error),
}

impl Submitted {
    /// Reads the form to its end; text fields are kept as typed, each file up to the upload limit.
    pub async fn read(mut form: Multipart, data_dir: &Path) -> Result<Self, Unreadable> {
        let parts = Parts::read(&mut form, data_dir, |name| name == "passport" || name == "selfie", 2).await.map_err(|e| match e {
            ReadError::TooLarge => Unreadable::TooLarge,
            ReadError::Malformed(_) => Unreadable::Malformed,
            other => Unreadable::Storage(other.into_error("file")),
        })?;
        let mut out = Self::default();
        for (name, text) in parts.fields {
            out.take(&name, text);
        }
        for file in parts.files {
            let upload = match file.file {
                Some(received) => Upload::File(received),
                None => Upload::TooBig,
            };
            let slot = if file.field == "passport" { &mut out.passport } else { &mut out.selfie };
            if matches!(slot, Upload::Missing) {
                *slot = upload;
            }
        }
        Ok(out)
    }

    fn take(&mut self, name: &str, text: String) {
        let a = &mut self.answers;
        match name {
            "csrf" => self.csrf = Some(text),
            "password" => self.password = text,
            "pdn_consent" => a.pdn_consent = true,
            "last_name" => a.last_name = text,
            "first_name" => a.first_name = text,
            "middle_name" => a.middle_name = text,
            "phone" => a.phone = text,
            "referral_code" => a.referral_code = text,
            "district_ids" => a.district_ids.push(text),
            "has_vehicle" => a.has_vehicle = Some(text == "yes"),
            "skills" => a.skills.push(text),
            "payout_method" => a.payout_method = text,
            "payout_data" => a.payout_data = text,
            "home_location" => a.home_location = text,
            _ => {}
        }
    }

    /// The choices as the rules take them.
    fn choices(&self) -> Result<Choices, Error> {
        let a = &self.answers;
        let district_ids = a.district_ids.iter().map(|d| d.trim().parse().map_err(|_| invalid("district_ids", "unknown"))).collect::<Result<_, _>>()?;
        let skills = a.skills.iter().map(|s| Category::parse(s).ok_or_else(|| invalid("skills", "unknown"))).collect::<Result<_, _>>()?;
        let payout_method = match a.payout_method.trim() {
            "" => None,
            raw => Some(PayoutMethod::parse(raw).ok_or_else(|| invalid("payout_method", "unknown"))?),
        };
        Ok(Choices { district_ids, skills, payout_method })
    }

    /// The questionnaire for the rules, through the invite of the link.
    pub fn registration(&self, invite: &str) -> Result<Registration, Error> {
        let a = &self.answers;
        let Choices { district_ids, skills, payout_method } = self.choices()?;
        Ok(Registration {
            invite: Some(invite.to_string()),
            city_id: None,
            last_name: a.last_name.clone(),
            first_name: a.first_name.clone(),
            middle_name: Some(a.middle_name.clone()),
            phone: a.phone.clone(),
            password: self.password.clone(),
            district_ids,
            has_vehicle: a.has_vehicle.unwrap_or(false),
            skills,
            payout_method,
            payout_data: a.payout_data.clone(),
            referral_code: Some(a.referral_code.clone()),
            pdn_consent: a.pdn_consent,
        })
    }

    /// A rejected master's corrected questionnaire for the rules (phone, password and referral code are
    /// not asked: they stay).
    pub fn correction(&self) -> Result<Correction, Error> {
        let a = &self.answers;
        let Choices { district_ids, skills, payout_method } = self.choices()?;
        Ok(Correction {
            pdn_consent: a.pdn_consent,
            last_name: a.last_name.clone(),
            first_name: a.first_name.clone(),
            middle_name: Some(a.middle_name.clone()),
            district_ids,
            has_vehicle: a.has_vehicle.unwrap_or(false),
            skills,
            payout_method,
            payout_data: a.payout_data.clone(),
            home_location: a.home_location.clone(),
        })
    }
}

impl Answers {
    /// The questionnaire on file, to correct it; consent was given at sign-up.
    pub fn on_file(q: &OnFile) -> Self {
        Self {
            pdn_consent: true,
            last_name: q.last_name.clone(),
            first_name: q.first_name.clone(),
            middle_name: q.middle_name.clone(),
            phone: q.phone.clone(),
            referral_code: String::new(),
            district_ids: q.district_ids.iter().map(ToString::to_string).collect(),
            has_vehicle: Some(q.has_vehicle),
            skills: q.skills.iter().map(|c| c.as_str().to_string()).collect(),
            payout_method: q.payout_method.map(|m| m.as_str().to_string()).unwrap_or_default(),
            payout_data: q.payout_data.clone(),
            home_location: q.home_location.clone(),
        }
    }
}
