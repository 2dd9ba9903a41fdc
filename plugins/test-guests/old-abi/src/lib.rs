//! Test guest: a slug rule built against `blink:plugin@0.0.9`, which the host
//! must refuse with a message naming both versions.
wit_bindgen::generate!({ path: "wit", world: "old-plugin" });

use exports::blink::plugin::slug_rules::Guest;

struct OldAbi;

impl Guest for OldAbi {
    fn validate(_slug: String) -> Result<(), String> {
        Ok(())
    }
}

export!(OldAbi);
