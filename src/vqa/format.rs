//! The one place numbers become answer text: millimetres, areas, relative and 0–1000 box coordinates.
//!
//! Every written number is rounded here, and `answer_values` carry the same rounded values as the text, so a
//! parser of the text and a reader of the column agree exactly.

use crate::manifest::AnswerFormat;

/// Decimals for lengths (mm), areas (mm²) and angles (degrees).
pub const MEASURE_DECIMALS: u32 = 2;
/// Decimals for relative (0–1) box coordinates.
pub const RELATIVE_DECIMALS: u32 = 3;
/// Decimals for a pixel size stated in a question.
pub const PIXEL_SIZE_DECIMALS: u32 = 3;

/// Rounds half to even at `decimals` places, on the decimal value Rust prints for `value`.
///
/// Formatting with `{:.N}` rounds the exact binary value, which is the behaviour we want for text; this
/// returns the parsed-back value of that text so the stored number and the text are identical.
pub fn round_to(value: f64, decimals: u32) -> f64 {
    let text = format!("{value:.prec$}", prec = decimals as usize);
    text.parse().unwrap_or(value)
}

/// `value` with `decimals` places, e.g. `12.35`; negative zero is written as `0`.
pub fn fixed(value: f64, decimals: u32) -> String {
    let v = if value == 0.0 { 0.0 } else { value };
    format!("{v:.prec$}", prec = decimals as usize)
}

/// A length, area or angle: two decimals.
pub fn measure(value: f64) -> (String, f64) {
    (
        fixed(value, MEASURE_DECIMALS),
        round_to(value, MEASURE_DECIMALS),
    )
}

/// Several lengths or angles as `[a, b, ...]`, two decimals each.
pub fn measure_list(values: &[f64]) -> (String, Vec<f64>) {
    let (texts, rounded): (Vec<String>, Vec<f64>) = values.iter().map(|v| measure(*v)).unzip();
    (format!("[{}]", texts.join(", ")), rounded)
}

/// A pixel size stated in a question: three decimals.
pub fn pixel_size(value_mm: f64) -> String {
    fixed(value_mm, PIXEL_SIZE_DECIMALS)
}

/// Rounds half to even to an integer.
pub fn round_half_even(value: f64) -> f64 {
    let r = value.round();
    if (value - value.trunc()).abs() == 0.5 {
        2.0 * (value / 2.0).round()
    } else {
        r
    }
}

/// A box answer in the chosen format: the four values and their text `[a, b, c, d]`.
///
/// `bbox_px` is inclusive `[x_min, y_min, x_max, y_max]` in display pixels of a `width_px` × `height_px` image
/// (docs/measurements.md §5.3).
pub fn bbox_answer(
    bbox_px: [f64; 4],
    width_px: f64,
    height_px: f64,
    format: AnswerFormat,
) -> (String, Vec<f64>) {
    let [x_min, y_min, x_max, y_max] = bbox_px;
    let (w, h) = (width_px, height_px);
    let values: Vec<f64> = match format {
        AnswerFormat::RelativeLowerLeft => [x_min / w, (h - y_max) / h, x_max / w, (h - y_min) / h]
            .iter()
            .map(|v| round_to(*v, RELATIVE_DECIMALS))
            .collect(),
        AnswerFormat::RelativeTopLeft => {
            [x_min / w, y_min / h, (x_max + 1.0) / w, (y_max + 1.0) / h]
                .iter()
                .map(|v| round_to(*v, RELATIVE_DECIMALS))
                .collect()
        }
        AnswerFormat::Qwen1000 => [x_min / w, y_min / h, (x_max + 1.0) / w, (y_max + 1.0) / h]
            .iter()
            .map(|v| round_half_even(v * 1000.0))
            .collect(),
    };
    let decimals = match format {
        AnswerFormat::Qwen1000 => 0,
        _ => RELATIVE_DECIMALS,
    };
    let text = format!(
        "[{}]",
        values
            .iter()
            .map(|v| fixed(*v, decimals))
            .collect::<Vec<_>>()
            .join(", ")
    );
    (text, values)
}

/// A multi-instance answer (docs/measurements.md §5.5): the number of pieces, a colon, and the list of their
/// boxes in the given order, each written like [`bbox_answer`]: `2: [[0.100, 0.720, 0.290, 0.900], [0.500,
/// 0.700, 0.690, 0.880]]`. The values are the count followed by every box's four numbers.
pub fn instances_answer(
    boxes_px: &[[f64; 4]],
    width_px: f64,
    height_px: f64,
    format: AnswerFormat,
) -> (String, Vec<f64>) {
    let mut values = vec![boxes_px.len() as f64];
    let mut texts = Vec::with_capacity(boxes_px.len());
    for bbox in boxes_px {
        let (text, box_values) = bbox_answer(*bbox, width_px, height_px, format);
        texts.push(text);
        values.extend(box_values);
    }
    (
        format!("{}: [{}]", boxes_px.len(), texts.join(", ")),
        values,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_left_reproduces_medvision_asymmetry() {
        // 100 x 50 image, box x 10..=29, y 5..=14 (inclusive).
        let (text, values) = bbox_answer(
            [10.0, 5.0, 29.0, 14.0],
            100.0,
            50.0,
            AnswerFormat::RelativeLowerLeft,
        );
        assert_eq!(values, vec![0.1, 0.72, 0.29, 0.9]);
        assert_eq!(text, "[0.100, 0.720, 0.290, 0.900]");
    }

    #[test]
    fn top_left_uses_pixel_edges() {
        let (text, values) = bbox_answer(
            [10.0, 5.0, 29.0, 14.0],
            100.0,
            50.0,
            AnswerFormat::RelativeTopLeft,
        );
        assert_eq!(values, vec![0.1, 0.1, 0.3, 0.3]);
        assert_eq!(text, "[0.100, 0.100, 0.300, 0.300]");
    }

    #[test]
    fn qwen_rounds_half_to_even() {
        // 8 px wide: x_min 1 → 125, (x_max + 1) 3 → 375; 16 px high: (y_max + 1) 1 → 62.5 → 62 (even).
        let (text, values) = bbox_answer([1.0, 0.0, 2.0, 0.0], 8.0, 16.0, AnswerFormat::Qwen1000);
        assert_eq!(values, vec![125.0, 0.0, 375.0, 62.0]);
        assert_eq!(text, "[125, 0, 375, 62]");
        assert_eq!(round_half_even(62.5), 62.0);
        assert_eq!(round_half_even(63.5), 64.0);
        assert_eq!(round_half_even(-0.5), 0.0);
    }

    #[test]
    fn instances_answer_lists_count_then_boxes() {
        let boxes = [[10.0, 5.0, 29.0, 14.0], [50.0, 0.0, 59.0, 49.0]];
        let (text, values) = instances_answer(&boxes, 100.0, 50.0, AnswerFormat::RelativeLowerLeft);
        assert_eq!(
            text,
            "2: [[0.100, 0.720, 0.290, 0.900], [0.500, 0.020, 0.590, 1.000]]"
        );
        assert_eq!(
            values,
            vec![2.0, 0.1, 0.72, 0.29, 0.9, 0.5, 0.02, 0.59, 1.0]
        );
        let (text, _) = instances_answer(&boxes[..1], 100.0, 50.0, AnswerFormat::Qwen1000);
        assert_eq!(text, "1: [[100, 100, 300, 300]]");
    }

    #[test]
    fn measures_have_two_decimals_and_matching_values() {
        assert_eq!(measure(73.125), ("73.12".to_string(), 73.12));
        assert_eq!(measure(0.004), ("0.00".to_string(), 0.0));
        assert_eq!(pixel_size(0.78125), "0.781");
        assert_eq!(fixed(-0.0, 2), "0.00");
        assert_eq!(
            measure_list(&[73.126, 16.5]),
            ("[73.13, 16.50]".to_string(), vec![73.13, 16.5])
        );
    }
}
