//! ARM template deployments (`Microsoft.Resources/deployments`): the template language, the
//! plan a template expands to (copy loops, conditions, the dependency graph) and the engine
//! that deploys it through the same resource operations a direct request reaches, so a
//! deployed resource is validated exactly as a direct PUT of it would be.

pub mod error;
pub mod expression;
pub mod functions;
pub mod jsonc;
pub mod locate;
pub mod plan;
pub mod runner;
pub mod scope;
pub mod store;
pub mod template;
pub mod what_if;

pub use error::{DeploymentError, ErrorDetail};
