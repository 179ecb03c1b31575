//! The server's HTTP routes, driven as a browser or script drives them.

mod attachments;
mod chart;
mod contract;
mod fhir;
mod matrix;
mod pages;
mod problems;
mod records;
mod security;
mod sign_in;
