//! Field Service: a dispatch system for small service firms — one binary, one SQLite file.
//!
//! Layers: `app` (HTTP) → rules (`orders`, `offers`, `engine`, `masters`, …; plain functions over a
//! connection and the clock's `now`) → `db` (the file, its pool and its single writer).

pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod board;
pub mod check;
pub mod cities;
pub mod clients;
pub mod clock;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod engine;
pub mod error;
pub mod events;
pub mod money;
pub mod i18n;
pub mod jobs;
pub mod lease;
pub mod master_views;
pub mod masters;
pub mod metrics;
pub mod moderation;
pub mod notifications;
pub mod offers;
pub mod order_edit;
pub mod order_notes;
pub mod ops;
pub mod orders;
pub mod password;
pub mod phone;
pub mod process;
pub mod push;
pub mod queue;
pub mod reports;
pub mod reference;
pub mod server;
pub mod settings;
pub mod signup;
pub mod slots;
pub mod staff;
pub mod uploads;
pub mod web;
pub mod work;
