//! The master's referral screen (product.md §3.8): his code and invitation link with a "share" button
//! (the Web Share API, else the text is copied; without JavaScript the text is there to copy by hand), the
//! program's terms, whom he invited and what he earned. The code is made on his first visit.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::{Bar, MasterPage, MobileError, act, local, page};
use crate::app::AppState;
use crate::money::referrals::{self, Referral};
use crate::web::{Tr, render};

pub fn routes() -> Router<AppState> {
    Router::new().route("/m/referral", get(get_referral))
}

#[derive(Template)]
#[template(path = "m/referral.html")]
struct ReferralPage {
    tr: Tr,
    c: Bar,
    r: Referral,
}

impl ReferralPage {
    fn code(&self) -> &str {
        self.r.code.as_deref().unwrap_or_default()
    }

    fn link(&self) -> &str {
        self.r.link.as_deref().unwrap_or_default()
    }

    /// The invitation he forwards, in his language.
    fn invitation(&self) -> String {
        self.tr.t("referral.invitation").replace("{code}", self.code()).replace("{link}", self.link())
    }

    fn money(&self, kop: &i64) -> String {
        self.tr.money(*kop)
    }

    fn when(&self, at: &chrono::DateTime<chrono::Utc>) -> String {
        local(self.c.tr, *at, self.c.tz)
    }

    /// "N rewards, X ₽".
    fn tally(&self, count: &i64, kop: &i64) -> String {
        self.tr.t("referral.tally").replace("{n}", &count.to_string()).replace("{amount}", &self.money(kop))
    }
}

async fn get_referral(State(state): State<AppState>, who: MasterPage, headers: HeaderMap) -> Result<Response, MobileError> {
    let (origin, fallback) = (crate::api::origin(&headers), state.config.timezone);
    let r = act(&state, &who, move |tx, master, now| referrals::for_master(tx, now, master, &origin, fallback)).await.map_err(|e| who.refused(e))?;
    let (c, ()) = page(&state, &who, |_, _, _| Ok(())).await?;
    Ok(render(&ReferralPage { tr: who.tr, c, r }))
}
