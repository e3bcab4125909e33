//! Accessibility checks with axe-core, installed from the npm registry into the repo's
//! `node_modules/` by `.ci/install-test-deps` and injected into the page through the driver.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;

use super::session::Browser;

/// One failed axe rule and where on the page.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Violation {
    /// Rule id, e.g. `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    #[serde(default)]
    pub impact: Option<String>,
    /// What the rule wants.
    pub help: String,
    /// The offending elements.
    pub nodes: Vec<Node>,
}

/// One element that broke a rule.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Node {
    /// CSS selector path to it.
    pub target: Vec<Value>,
}

impl Violation {
    /// Serious or critical: a person using a screen reader or a keyboard is stuck.
    pub fn blocks_people(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is missing at {} ({e}): install it with `npm ci` in the repo (or run `bash .ci/install-test-deps`)",
                path.display()
            )
        })
    })
}

impl Browser {
    /// Run axe-core on the current page; the full report goes next to the screenshots.
    pub async fn axe(&self, label: &str) -> Vec<Violation> {
        // axe-core schedules its checks with timers, which do not run with JavaScript off.
        assert!(self.javascript(), "axe-core needs a browser with JavaScript on");
        self.c
            .execute(&format!("{}\nreturn typeof window.axe;", axe_source()), vec![])
            .await
            .expect("inject axe-core");
        let report = self
            .c
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 window.axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done({ ok: r.violations }), e => done({ err: String(e) }));",
                vec![],
            )
            .await
            .expect("run axe-core");
        if let Some(err) = report.get("err") {
            panic!("axe-core failed on {label}: {err}");
        }
        let violations = report["ok"].clone();
        std::fs::write(
            self.shots.join(format!("axe-{label}.json")),
            serde_json::to_string_pretty(&violations).unwrap(),
        )
        .unwrap();
        serde_json::from_value(violations).unwrap()
    }

    /// Fail when axe finds a serious or critical violation on the current page.
    pub async fn assert_accessible(&self, label: &str) {
        let bad: Vec<String> = self
            .axe(label)
            .await
            .iter()
            .filter(|v| v.blocks_people())
            .map(describe)
            .collect();
        assert!(bad.is_empty(), "axe-core on {label}:\n{}", bad.join("\n"));
    }
}

fn describe(v: &Violation) -> String {
    let at: Vec<String> = v
        .nodes
        .iter()
        .map(|n| n.target.iter().map(|t| t.to_string()).collect())
        .collect();
    format!(
        "  {} ({}): {} at {}",
        v.id,
        v.impact.as_deref().unwrap_or_default(),
        v.help,
        at.join(", ")
    )
}
