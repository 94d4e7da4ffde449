//! Reading `MATERIAL_GUARD_*` variables: one helper per kind of value (ranged numbers, flags,
//! choices, comma-separated lists), each error naming the variable.

use std::fmt::Display;
use std::str::FromStr;

/// A configuration variable that is missing or malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {problem}")]
    Invalid {
        name: &'static str,
        value: String,
        problem: String,
    },
}

pub(crate) fn invalid(name: &'static str, value: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

/// The variables, read through a lookup (the environment, or a map in tests). Empty values
/// count as unset.
pub(crate) struct Env<F: Fn(&str) -> Option<String>> {
    pub lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The trimmed, non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A number `ok` accepts; `default` when unset; `problem` says what is accepted.
    pub fn number<T>(
        &self,
        name: &'static str,
        default: T,
        ok: impl Fn(&T) -> bool,
        problem: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + Display,
    {
        Ok(self.optional_number(name, ok, problem)?.unwrap_or(default))
    }

    /// Like [`Env::number`], `None` when unset.
    pub fn optional_number<T>(
        &self,
        name: &'static str,
        ok: impl Fn(&T) -> bool,
        problem: &str,
    ) -> Result<Option<T>, ConfigError>
    where
        T: FromStr + Display,
    {
        let Some(v) = self.get(name) else {
            return Ok(None);
        };
        let n = v
            .parse::<T>()
            .map_err(|_| invalid(name, &v, "not a number"))?;
        if !ok(&n) {
            return Err(invalid(name, &n.to_string(), problem));
        }
        Ok(Some(n))
    }

    /// One of `choices` (the first is the default), as its index.
    pub fn choice(&self, name: &'static str, choices: &[&str]) -> Result<usize, ConfigError> {
        match self.get(name) {
            None => Ok(0),
            Some(v) => choices.iter().position(|c| *c == v).ok_or_else(|| {
                let listed: Vec<String> = choices.iter().map(|c| format!("`{c}`")).collect();
                invalid(name, &v, &format!("must be {}", listed.join(" or ")))
            }),
        }
    }

    /// `true` or `false`.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(v) => Err(invalid(name, v, "must be `true` or `false`")),
        }
    }

    /// A comma-separated list whose items pass `check`; empty when unset.
    pub fn list(
        &self,
        name: &'static str,
        check: impl Fn(&str) -> Result<(), &'static str>,
    ) -> Result<Vec<String>, ConfigError> {
        let Some(value) = self.get(name) else {
            return Ok(Vec::new());
        };
        let items: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        for item in &items {
            check(item).map_err(|problem| invalid(name, &value, problem))?;
        }
        Ok(items)
    }
}
