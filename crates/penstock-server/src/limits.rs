//! Size limits on what API callers store: names and descriptions. Each refusal is a 400 that
//! names the field and the limit. (Limits on pipeline specs themselves live in
//! `penstock_spec::Limits` and the engine's run limits.)

use crate::error::{ApiError, ApiResult};

/// The longest display name, in characters, of an experiment, pipeline, version, run or
/// recurring run. Names are shown in every list; Kubeflow's own database columns hold fewer.
pub const MAX_NAME_CHARS: usize = 256;

/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 16 * 1024;

/// Refuses a name longer than [`MAX_NAME_CHARS`].
pub fn check_name(field: &str, value: &str) -> ApiResult<()> {
    check(field, value, MAX_NAME_CHARS, "max_name_chars")
}

/// Refuses a description longer than [`MAX_DESCRIPTION_CHARS`].
pub fn check_text(field: &str, value: &str) -> ApiResult<()> {
    check(field, value, MAX_DESCRIPTION_CHARS, "max_description_chars")
}

fn check(field: &str, value: &str, max: usize, limit: &str) -> ApiResult<()> {
    let n = value.chars().count();
    if n > max {
        return Err(ApiError::invalid(format!(
            "{field}: {n} characters is more than the limit of {max} ({limit})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused_with_the_limit_named() {
        assert!(check_name("run.display_name", &"x".repeat(MAX_NAME_CHARS)).is_ok());
        let e = check_name("run.display_name", &"é".repeat(MAX_NAME_CHARS + 1)).unwrap_err();
        assert!(e.message.contains("run.display_name"), "{}", e.message);
        assert!(e.message.contains("max_name_chars"), "{}", e.message);
    }
}
