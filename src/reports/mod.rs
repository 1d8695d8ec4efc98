//! What a firm's owner reads and hands on: the exports of orders, commissions and referral rewards, and the
//! distribution and money reports — all computed from what is already stored, for a period of days on the
//! operator's clock (decisions §B.21).

pub mod exports;
pub mod period;
