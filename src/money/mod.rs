//! Money (product.md §4): amounts as people type them, the owner's payment requisites, and commissions
//! from a master's close to the staff's approval, and the referral program's rewards.

pub mod amount;
pub mod commissions;
pub mod finance;
pub mod receipts;
pub mod referrals;
pub mod requisites;
pub mod watchdogs;

pub use amount::{format_rubles, parse_amount};
