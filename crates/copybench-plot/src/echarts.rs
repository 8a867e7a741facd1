//! The ECharts library every report inlines, so that it renders with no network access.
//!
//! Where it comes from, first found wins:
//! 1. `ReportOptions::echarts_js`, a path given at run time;
//! 2. the copy embedded at build time (`build.rs`: `$COPYBENCH_ECHARTS_JS` at build time, else
//!    `<workspace>/assets/node_modules/echarts/dist/echarts.min.js` from
//!    `scripts/install-deps.sh`);
//! 3. `$COPYBENCH_ECHARTS_JS` at run time.
//!
//! Otherwise [`crate::PlotError::MissingEcharts`].

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::PlotError;

/// The ECharts version charming 0.6 targets, which `scripts/install-deps.sh` installs.
pub const ECHARTS_VERSION: &str = "5.5.1";

/// The script embedded at build time, if the build found it.
#[cfg(copybench_echarts_embedded)]
pub const EMBEDDED: Option<&str> = Some(include_str!(env!("COPYBENCH_ECHARTS_JS_PATH")));
#[cfg(not(copybench_echarts_embedded))]
pub const EMBEDDED: Option<&str> = None;

/// Where the embedded copy was read from at build time.
#[cfg(copybench_echarts_embedded)]
pub const EMBEDDED_FROM: Option<&str> = Some(env!("COPYBENCH_ECHARTS_JS_PATH"));
#[cfg(not(copybench_echarts_embedded))]
pub const EMBEDDED_FROM: Option<&str> = None;

/// Whence the script of a report came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EchartsSource {
    /// A file read at run time.
    File(PathBuf),
    /// The copy embedded at build time (read from this path then).
    Embedded(String),
}

/// Picks the script: `explicit` path, else `embedded`, else `$COPYBENCH_ECHARTS_JS`.
pub fn resolve(
    explicit: Option<&Path>,
    embedded: Option<&'static str>,
) -> Result<(Cow<'static, str>, EchartsSource), PlotError> {
    if let Some(path) = explicit {
        return read(path);
    }
    if let Some(js) = embedded {
        let from = EMBEDDED_FROM.unwrap_or("build time").to_string();
        return Ok((Cow::Borrowed(js), EchartsSource::Embedded(from)));
    }
    if let Some(path) = std::env::var_os("COPYBENCH_ECHARTS_JS").filter(|p| !p.is_empty()) {
        return read(Path::new(&path));
    }
    Err(PlotError::MissingEcharts {
        detail: "none was embedded at build time (assets/node_modules/echarts/dist/\
                 echarts.min.js was absent) and no path was given"
            .into(),
    })
}

fn read(path: &Path) -> Result<(Cow<'static, str>, EchartsSource), PlotError> {
    let js = std::fs::read_to_string(path).map_err(|e| PlotError::MissingEcharts {
        detail: format!("cannot read {}: {e}", path.display()),
    })?;
    // A cheap check that the file is the library and not, say, an HTML error page.
    if !js.contains("echarts") || js.trim_start().starts_with('<') {
        return Err(PlotError::MissingEcharts {
            detail: format!("{} does not look like echarts.min.js", path.display()),
        });
    }
    Ok((Cow::Owned(js), EchartsSource::File(path.to_path_buf())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_anywhere_is_missing_echarts() {
        // The run-time variable would be a third source; this test needs it unset.
        if std::env::var_os("COPYBENCH_ECHARTS_JS").is_some() {
            return;
        }
        let err = resolve(None, None).unwrap_err();
        assert!(matches!(err, PlotError::MissingEcharts { .. }));
        let text = err.to_string();
        assert!(text.contains("scripts/install-deps.sh"), "{text}");
        assert!(text.contains("echarts_js"), "{text}");
    }

    #[test]
    fn a_missing_or_wrong_file_is_missing_echarts() {
        let err = resolve(Some(Path::new("/nonexistent/echarts.min.js")), EMBEDDED).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/echarts.min.js"),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("copybench-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let page = dir.join("echarts.min.js");
        std::fs::write(&page, "<html>404 echarts</html>").unwrap();
        let err = resolve(Some(&page), EMBEDDED).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(err.to_string().contains("does not look like"), "{err}");
    }

    #[test]
    fn an_explicit_path_wins_over_the_embedded_copy() {
        let dir = std::env::temp_dir().join(format!("copybench-plot-x{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let js = dir.join("echarts.min.js");
        std::fs::write(&js, "/* echarts stand-in */").unwrap();
        let (text, source) = resolve(Some(&js), Some("embedded echarts")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(text, "/* echarts stand-in */");
        assert_eq!(source, EchartsSource::File(js));
        let (text, source) = resolve(None, Some("embedded echarts")).unwrap();
        assert_eq!(text, "embedded echarts");
        assert!(matches!(source, EchartsSource::Embedded(_)));
    }
}
