//! The server's HTTP routes, driven as a browser or script drives them.

mod matrix;
mod pages;
mod records;
mod sign_in;
