//! Who is asking: a console session (cookie) or an API token (bearer), and
//! the sign-in pages. CSRF for cookie-authenticated writes is checked by the
//! guard (`csrf.rs`), so no form can skip it.

pub mod cookie;
pub mod csrf;
pub mod login;
mod principal;

pub use principal::{authenticate, Principal};
