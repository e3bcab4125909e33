//! Page chrome shared by every template.

use crate::app::App;

/// What the base layout needs.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// Conference name in the header and title.
    pub conference: String,
    /// Cache-busting version of the static assets.
    pub assets: &'static str,
}

impl Layout {
    /// The layout for this kiosk.
    pub fn new(app: &App) -> Self {
        Layout {
            conference: app.settings.conference.name.clone(),
            assets: super::assets::version(),
        }
    }
}
