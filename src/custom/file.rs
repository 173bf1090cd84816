//! The custom metrics configured on the builder (`with_custom_metric`,
//! `with_custom_metrics_file`): read from their files, checked all together before the
//! provider starts anything, created once its pipelines run. An error about a
//! definition from a file names the file and the definition's index in it
//! (`[2].filters.field_op: unknown operator "like" (in custom.json)`).

use std::path::{Path, PathBuf};

use super::definition::CustomMetric;
use super::manage::CustomMetrics;
use crate::Error;

/// The definitions given to the builder: those given in code first, then each file's.
pub(crate) struct Configured {
    definitions: Vec<CustomMetric>,
    /// Where each definition came from, at the same index; `None`: given in code.
    origins: Vec<Option<Origin>>,
}

/// A definition's place in a custom metrics file.
struct Origin {
    path: PathBuf,
    index: usize,
}

impl Configured {
    /// Reads every file; nothing is checked against a provider yet.
    pub(crate) fn load(in_code: Vec<CustomMetric>, files: &[PathBuf]) -> Result<Self, Error> {
        let mut origins: Vec<Option<Origin>> = in_code.iter().map(|_| None).collect();
        let mut definitions = in_code;
        for path in files {
            let read = read_file(path)?;
            origins.extend((0..read.len()).map(|index| {
                Some(Origin {
                    path: path.clone(),
                    index,
                })
            }));
            definitions.extend(read);
        }
        Ok(Configured {
            definitions,
            origins,
        })
    }

    /// Checks each definition against the provider's destinations and the definitions
    /// before it, creating none.
    pub(crate) fn check(&self, custom: &CustomMetrics) -> Result<(), Error> {
        for (i, (definition, origin)) in self.definitions.iter().zip(&self.origins).enumerate() {
            custom
                .check(definition, &self.definitions[..i])
                .map_err(|e| in_file(e, origin.as_ref()))?;
        }
        Ok(())
    }

    /// Creates every definition (checked by [`Configured::check`]).
    pub(crate) fn create(self, custom: &CustomMetrics) -> Result<(), Error> {
        for (definition, origin) in self.definitions.into_iter().zip(self.origins) {
            custom
                .create(definition)
                .map_err(|e| in_file(e, origin.as_ref()))?;
        }
        Ok(())
    }
}

/// Adds where a definition came from (a file, its index there) to its error.
fn in_file(error: Error, origin: Option<&Origin>) -> Error {
    let Some(Origin { path, index }) = origin else {
        return error;
    };
    let at = |field: &str| {
        if field.is_empty() {
            format!("[{index}]")
        } else {
            format!("[{index}].{field}")
        }
    };
    match error {
        Error::InvalidCustomMetric { field, message } => Error::InvalidCustomMetric {
            field: at(&field),
            message: format!("{message} (in {})", path.display()),
        },
        Error::CustomMetricExists(name) => Error::InvalidCustomMetric {
            field: at("name"),
            message: format!("{name:?} is defined twice (in {})", path.display()),
        },
        other => other,
    }
}

/// The definitions in a custom metrics file.
fn read_file(path: &Path) -> Result<Vec<CustomMetric>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Config(format!(
            "cannot read the custom metrics file {}: {e}",
            path.display()
        ))
    })?;
    CustomMetric::list_from_json(&text).map_err(|e| match e {
        Error::InvalidCustomMetric { field, message } => Error::InvalidCustomMetric {
            field,
            message: format!("{message} (in {})", path.display()),
        },
        other => other,
    })
}
