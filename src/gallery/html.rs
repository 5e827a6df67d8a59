//! The gallery page as text: HTML escaping, the SVG overlay of a row's geometry in image pixel coordinates,
//! the cards, the per-label histograms and the pure-CSS filters (no script, no external resource).

use std::fmt::Write as _;

use super::read::GalleryRow;

/// `text` safe inside HTML text and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A coordinate as SVG text: at most 3 decimals, no trailing zeros.
fn num(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// A point in SVG user units: pixel centres sit at integer coordinates in the data and at `+½` in the
/// overlay, whose `(0, 0)` is the top-left corner of the top-left pixel.
fn at(p: [f64; 2]) -> [f64; 2] {
    [p[0] + 0.5, p[1] + 0.5]
}

fn line(out: &mut String, class: &str, a: [f64; 2], b: [f64; 2]) {
    let (a, b) = (at(a), at(b));
    let _ = write!(
        out,
        r#"<line class="{class}" x1="{}" y1="{}" x2="{}" y2="{}"/>"#,
        num(a[0]),
        num(a[1]),
        num(b[0]),
        num(b[1])
    );
}

/// An inclusive pixel box as a rectangle covering its pixels.
fn rect(out: &mut String, class: &str, b: [i32; 4]) {
    let _ = write!(
        out,
        r#"<rect class="{class}" x="{}" y="{}" width="{}" height="{}"/>"#,
        b[0],
        b[1],
        b[2] - b[0] + 1,
        b[3] - b[1] + 1
    );
}

/// The row's geometry as SVG elements (no `<svg>` wrapper): the box (or every piece's box), the ellipse with
/// its axes P1–P2, P3–P4 (`lesion_size`), the longest chord (`lesion_diameter`), the measured segments or
/// angle arms of landmark rows, and every point as a dot.
pub fn overlay(row: &GalleryRow) -> String {
    let mut out = String::new();
    if row.piece_boxes_px.is_empty() {
        if let Some(b) = row.bbox_px {
            rect(&mut out, "box", b);
        }
    } else {
        for b in &row.piece_boxes_px {
            rect(&mut out, "box", *b);
        }
    }
    let p = &row.landmarks_px;
    match (row.task_type.as_str(), p.as_slice()) {
        ("lesion_size", [p1, p2, p3, p4]) => {
            // The ellipse through conjugate semi-diameters u = (P2 − P1)/2 and v = (P4 − P3)/2 about the
            // midpoint of P1–P2: the unit circle under matrix(u, v, centre). Exact for the fitted ellipse
            // in any pixel aspect, since an affine map keeps conjugate diameters conjugate.
            let c = at([(p1[0] + p2[0]) / 2.0, (p1[1] + p2[1]) / 2.0]);
            let u = [(p2[0] - p1[0]) / 2.0, (p2[1] - p1[1]) / 2.0];
            let v = [(p4[0] - p3[0]) / 2.0, (p4[1] - p3[1]) / 2.0];
            let _ = write!(
                out,
                r#"<circle class="ell" r="1" transform="matrix({} {} {} {} {} {})"/>"#,
                num(u[0]),
                num(u[1]),
                num(v[0]),
                num(v[1]),
                num(c[0]),
                num(c[1])
            );
            line(&mut out, "major", *p1, *p2);
            line(&mut out, "minor", *p3, *p4);
        }
        ("lesion_diameter", [a, b]) => line(&mut out, "feret", *a, *b),
        (_, [a, b]) => line(&mut out, "seg", *a, *b),
        (_, [a, v, b]) => {
            line(&mut out, "seg", *a, *v);
            line(&mut out, "seg", *v, *b);
        }
        (_, [a1, a2, b1, b2]) => {
            line(&mut out, "seg", *a1, *a2);
            line(&mut out, "seg", *b1, *b2);
        }
        _ => {}
    }
    let radius = f64::from(row.image_width_px.max(row.image_height_px)) / 120.0;
    for q in p {
        let q = at(*q);
        let _ = write!(
            out,
            r#"<circle class="pt" cx="{}" cy="{}" r="{}"/>"#,
            num(q[0]),
            num(q[1]),
            num(radius.max(0.75))
        );
    }
    out
}

/// Indices of a row's config, label, plane and split among the page's filter values.
pub struct Facets {
    /// Index among the page's configs.
    pub config: usize,
    /// Index among the page's labels.
    pub label: usize,
    /// Index among the page's planes.
    pub plane: usize,
    /// Index among the page's splits.
    pub split: usize,
}

/// One card: the slice as a PNG data URI under the SVG overlay, and the row's text.
pub fn card(row: &GalleryRow, facets: &Facets) -> String {
    let png = crate::sink::tsv::base64(&row.png);
    let (w, h) = (row.image_width_px, row.image_height_px);
    format!(
        concat!(
            r#"<figure data-c="{c}" data-l="{l}" data-p="{p}" data-s="{s}">"#,
            r#"<div class="v"><img alt="{alt}" width="{w}" height="{h}" src="data:image/png;base64,{png}">"#,
            r#"<svg viewBox="0 0 {w} {h}" preserveAspectRatio="none">{svg}</svg></div>"#,
            r#"<figcaption><b>{config} · {label}</b> · {plane} · {split}<br><i>Q:</i> {q}<br><i>A:</i> {a}"#,
            r#"<br><small>{id}</small></figcaption></figure>"#,
            "\n"
        ),
        c = facets.config,
        l = facets.label,
        w = w,
        h = h,
        png = png,
        p = facets.plane,
        s = facets.split,
        alt = escape(&row.id),
        svg = overlay(row),
        config = escape(&row.config),
        label = escape(&row.label_name),
        plane = escape(&row.plane),
        split = escape(&row.split),
        q = escape(&row.question),
        a = escape(&row.answer),
        id = escape(&row.id),
    )
}

/// Bins of a histogram.
const BINS: usize = 20;

/// One histogram as inline SVG bars: `BINS` equal bins from the smallest to the largest value, the count
/// above each bar, the range under the axis.
pub fn histogram(title: &str, values: &[f64]) -> String {
    let (w, h) = (300.0, 120.0);
    let mut out = format!(
        r#"<div class="hist"><div>{} <small>(n = {})</small></div><svg viewBox="0 0 {w} {h}" width="{w}" height="{h}">"#,
        escape(title),
        values.len()
    );
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut counts = [0usize; BINS];
    for v in values {
        let bin = if hi > lo {
            (((v - lo) / (hi - lo)) * BINS as f64).floor() as usize
        } else {
            0
        };
        counts[bin.min(BINS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let (plot_h, bar_w) = (h - 30.0, w / BINS as f64);
    for (i, n) in counts.iter().enumerate() {
        let bar_h = plot_h * (*n as f64) / top;
        let x = i as f64 * bar_w;
        let _ = write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}"><title>{n}</title></rect>"#,
            num(x + 1.0),
            num(12.0 + plot_h - bar_h),
            num(bar_w - 2.0),
            num(bar_h)
        );
    }
    let _ = write!(
        out,
        r#"<text x="0" y="{}">{}</text><text x="{w}" y="{}" text-anchor="end">{}</text></svg></div>"#,
        h - 4.0,
        num(lo),
        h - 4.0,
        num(hi)
    );
    out
}

/// One group of filter radios (`all` first, checked) and its labels; `key` names the data attribute.
pub fn filter_inputs(key: char, values: &[String], out: &mut String, labels: &mut String) {
    let _ = write!(
        out,
        r#"<input type="radio" name="f{key}" id="f{key}-all" checked>"#
    );
    let _ = write!(labels, r#"<div><label for="f{key}-all">all</label>"#);
    for (i, v) in values.iter().enumerate() {
        let _ = write!(out, r#"<input type="radio" name="f{key}" id="f{key}{i}">"#);
        let _ = write!(labels, r#" <label for="f{key}{i}">{}</label>"#, escape(v));
    }
    labels.push_str("</div>\n");
}

/// CSS hiding every card (and, for labels, every histogram) that does not match a checked radio.
pub fn filter_rules(key: char, count: usize, hist_too: bool) -> String {
    let mut out = String::new();
    for i in 0..count {
        let _ = writeln!(
            out,
            r#"#f{key}{i}:checked ~ main figure:not([data-{key}="{i}"]){{display:none}}"#
        );
        let _ = writeln!(
            out,
            r#"#f{key}{i}:checked ~ nav label[for="f{key}{i}"]{{background:#ffd54f}}"#
        );
        if hist_too {
            let _ = writeln!(
                out,
                r#"#f{key}{i}:checked ~ section .lab:not([data-{key}="{i}"]){{display:none}}"#
            );
        }
    }
    let _ = writeln!(
        out,
        r#"#f{key}-all:checked ~ nav label[for="f{key}-all"]{{background:#ffd54f}}"#
    );
    out
}

/// Fixed page style: cards in a grid, the overlay stretched over the image, hidden radios.
pub const STYLE: &str = "body{font:14px sans-serif;margin:1em;background:#fafafa}\
input[type=radio]{display:none}\
nav label{cursor:pointer;padding:1px 6px;border:1px solid #bbb;border-radius:3px;margin:1px;display:inline-block}\
nav div{margin:3px 0}\
main{display:flex;flex-wrap:wrap;gap:10px}\
figure{margin:0;width:260px;background:#fff;border:1px solid #ddd;padding:4px}\
.v{position:relative;width:256px}\
.v img{display:block;width:256px;height:auto;image-rendering:pixelated}\
.v svg{position:absolute;left:0;top:0;width:100%;height:100%}\
svg *{vector-effect:non-scaling-stroke;fill:none;stroke-width:1.5}\
.box{stroke:#00e676}.ell{stroke:#ffea00}.major{stroke:#ff1744}.minor{stroke:#2979ff}\
.feret{stroke:#ff9100}.seg{stroke:#e040fb}.pt{fill:#00e5ff;stroke:none}\
figcaption{font-size:12px;word-break:break-word}\
.hist{display:inline-block;margin:4px 12px 4px 0}\
.hist rect{fill:#5c6bc0;stroke:none}.hist text{font-size:10px;fill:#333;stroke:none}\n";
