//! Pixel-exact comparison of `render_slice` against numpy goldens (`scripts/render_golden.py`).

use super::*;
use serde_json::Value;

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/golden/render/render_cases.json"
);

fn num(case: &Value, key: &str) -> f64 {
    case[key]
        .as_f64()
        .unwrap_or_else(|| panic!("golden field {key} is not a number"))
}

fn scaling_of(case: &Value) -> Scaling {
    let s = &case["scaling"];
    match s["kind"].as_str() {
        Some("window") => Scaling::Window {
            low: num(s, "low"),
            high: num(s, "high"),
        },
        Some("percentile") => Scaling::Percentile {
            low_pct: num(s, "low_pct"),
            high_pct: num(s, "high_pct"),
        },
        other => panic!("unknown scaling kind {other:?}"),
    }
}

#[test]
fn render_matches_numpy_goldens() {
    let text = std::fs::read_to_string(GOLDEN).expect("golden file present");
    let golden: Value = serde_json::from_str(&text).expect("golden JSON parses");
    let cases = golden["cases"].as_array().expect("cases array");
    assert!(cases.len() >= 18);
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let slice = Grid2 {
            width_px: num(case, "width_px") as usize,
            height_px: num(case, "height_px") as usize,
            data: case["data"]
                .as_array()
                .expect("data array")
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect(),
        };
        let rounding = match case["rounding"].as_str() {
            Some("half_even") => Rounding::HalfEven,
            Some("truncate") => Rounding::Truncate,
            other => panic!("unknown rounding {other:?}"),
        };
        let max_side = case["max_side"].as_u64().map(|v| v as u32);
        let out = render_slice(&slice, scaling_of(case), rounding, max_side)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected_w = num(case, "out_width_px") as u32;
        let expected_h = num(case, "out_height_px") as u32;
        assert_eq!(
            (out.width_px, out.height_px),
            (expected_w, expected_h),
            "{name}"
        );
        assert_eq!(out.scale_x, f64::from(expected_w) / slice.width_px as f64);
        assert_eq!(out.scale_y, f64::from(expected_h) / slice.height_px as f64);
        let img = image::load_from_memory_with_format(&out.png, image::ImageFormat::Png)
            .expect("decodes");
        assert_eq!(img.color(), image::ColorType::L8, "{name}");
        let gray = img.to_luma8();
        assert_eq!((gray.width(), gray.height()), (expected_w, expected_h));
        let expected: Vec<u8> = case["pixels"]
            .as_array()
            .expect("pixels array")
            .iter()
            .map(|v| v.as_u64().expect("pixel") as u8)
            .collect();
        assert_eq!(gray.into_raw(), expected, "{name}");
    }
}
