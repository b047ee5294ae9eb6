//! The configuration file: `Settings::from_toml` on arbitrary text must return settings or an
//! error, never panic; settings it accepts must build every domain object the server builds from
//! them at start (validation promises it), and its errors must describe themselves.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_server::Settings;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Settings::from_toml(text) {
        Ok(settings) => {
            settings.plan_catalog().expect("validated plans build");
            settings.price_catalog().expect("validated prices build");
            settings.margin().expect("validated margin builds");
            settings.call_prices().expect("validated call prices build");
            settings.cost_assumptions().expect("validated costs build");
            let _ = format!("{settings:?}");
        }
        Err(error) => {
            let _ = error.to_string();
            let _ = format!("{error:?}");
        }
    }
});
