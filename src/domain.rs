//! The domain's vocabulary: statuses, states, roles and categories, stored as TEXT.

use std::fmt;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

/// Defines an enumeration stored in SQLite as its upper-case name (the CHECK constraints in `schema.sql`).
/// Its OpenAPI schema is written from the same literals as serde's names, so the document cannot drift
/// from the wire (utoipa's derive does not see a `serde(rename)` whose value comes from a macro argument).
macro_rules! text_enum {
    ($(#[doc = $doc:literal])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .description(Some(concat!($($doc),*).trim()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialised name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the stored name; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| FromSqlError::Other(format!("unknown {} {text:?}", stringify!($name)).into()))
            }
        }
    };
}

text_enum!(
    /// Where an order is in its life (distribution.md §3).
    OrderStatus {
        Created => "CREATED",
        Searching => "SEARCHING",
        Assigned => "ASSIGNED",
        EnRoute => "EN_ROUTE",
        Working => "WORKING",
        Payment => "PAYMENT",
        Closed => "CLOSED",
        Deferred => "DEFERRED",
        Guarantee => "GUARANTEE",
        Canceled => "CANCELED",
    }
);

impl OrderStatus {
    /// Statuses that occupy a slot of the master's active-order limit.
    pub const ACTIVE: [OrderStatus; 4] =
        [OrderStatus::Assigned, OrderStatus::EnRoute, OrderStatus::Working, OrderStatus::Payment];

    /// Statuses from which an order may be assigned (by accept or by staff).
    pub fn is_assignable(self) -> bool {
        matches!(self, Self::Searching | Self::Guarantee | Self::Created | Self::Deferred)
    }

    /// True for CLOSED and CANCELED.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::Canceled)
    }
}

text_enum!(
    /// A normal order or a warranty re-visit.
    OrderType {
        Normal => "NORMAL",
        Guarantee => "GUARANTEE",
    }
);

impl OrderType {
    /// The searching status of an order of this type (SEARCHING or GUARANTEE).
    pub fn searching_status(self) -> OrderStatus {
        match self {
            Self::Normal => OrderStatus::Searching,
            Self::Guarantee => OrderStatus::Guarantee,
        }
    }
}

text_enum!(
    /// The kind of work; a master's skills are categories (decisions D-1).
    Category {
        Electrics => "ELECTRICS",
        Plumbing => "PLUMBING",
        Appliances => "APPLIANCES",
        Windows => "WINDOWS",
        Handyman => "HANDYMAN",
        Roadside => "ROADSIDE",
    }
);

text_enum!(
    /// Where an offer is in its life (distribution.md §8.1).
    OfferState {
        Sent => "SENT",
        Viewed => "VIEWED",
        Accepted => "ACCEPTED",
        Declined => "DECLINED",
        Expired => "EXPIRED",
        Canceled => "CANCELED",
    }
);

impl OfferState {
    /// SENT and VIEWED: the master may still answer (decisions D-9).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Sent | Self::Viewed)
    }
}

text_enum!(
    /// Who changed an order's status.
    ActorType {
        System => "SYSTEM",
        Admin => "ADMIN",
        Master => "MASTER",
        AutoDistribution => "AUTO_DISTRIBUTION",
    }
);

text_enum!(
    /// A master's shift state.
    ShiftStatus {
        Off => "SHIFT_OFF",
        On => "SHIFT_ON",
        Break => "BREAK",
    }
);

text_enum!(
    /// A master's questionnaire state.
    ModerationStatus {
        Pending => "PENDING",
        Approved => "APPROVED",
        Rejected => "REJECTED",
    }
);

text_enum!(
    /// A staff member's role.
    StaffRole {
        GlobalAdmin => "GLOBAL_ADMIN",
        CityAdmin => "CITY_ADMIN",
        Logist => "LOGIST",
    }
);

text_enum!(
    /// How a master wants to be paid (product.md §3.2 step 13).
    PayoutMethod {
        Card => "CARD",
        Sbp => "SBP",
        YooMoney => "YOOMONEY",
        BankAccount => "BANK_ACCOUNT",
    }
);

/// Row ids, named so signatures say what they take.
pub type OrderId = i64;
/// A master's id.
pub type MasterId = i64;
/// An offer's id.
pub type OfferId = i64;
/// A staff member's id.
pub type StaffId = i64;
/// A city's id.
pub type CityId = i64;
/// A district's id.
pub type DistrictId = i64;
