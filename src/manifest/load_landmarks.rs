//! Validation of a manifest's landmark parts: each landmark collection's `[collection.landmarks]` table and
//! each `landmarks` task's landmarks and measurements, every problem a diagnostic (called from `load.rs`).

use super::*;

/// Landmark collections and `landmarks` tasks: formats, landmark ids, measurement arity, and that landmark
/// tasks run only on landmark collections (and mask tasks only on mask collections).
pub(super) fn validate_landmarks(ctx: &Ctx, m: &Manifest, diags: &mut Vec<Diagnostic>) {
    for c in &m.collections {
        if let Some(src) = &c.landmarks {
            validate_landmark_source(ctx, &c.name, src, diags);
        }
    }
    for t in &m.tasks {
        validate_task_collections(ctx, m, t, diags);
        if t.kind == TaskKind::Landmarks {
            // Landmark names (and so ids) may come from every collection's `.fcsv` files instead.
            let sources: Vec<_> = m
                .collections
                .iter()
                .filter(|c| {
                    t.collections.is_empty() || t.collections.iter().any(|n| n.get_ref() == &c.name)
                })
                .filter_map(|c| c.landmarks.as_ref())
                .collect();
            let named_by_files = !sources.is_empty() && sources.iter().all(|l| l.names.is_some());
            validate_landmark_task(ctx, t, named_by_files, diags);
        } else if !t.landmarks.is_empty() || !t.measurements.is_empty() {
            diags.push(ctx.diag(
                None,
                format!(
                    "task `{}`: `landmarks` and `measurements` belong to kind `landmarks` only",
                    t.id
                ),
            ));
        }
    }
}

/// A `[collection.landmarks]` table: format needs, index base, pairs, extra files, spacing, transform.
fn validate_landmark_source(
    ctx: &Ctx,
    name: &str,
    src: &crate::manifest::schema::LandmarkSource,
    diags: &mut Vec<Diagnostic>,
) {
    use crate::manifest::schema::LandmarkFormat;
    match src.format {
            LandmarkFormat::CephTxt if src.points.is_none_or(|n| n == 0) => diags.push(ctx.diag(
                None,
                format!("collection `{name}`: landmarks.format `ceph_txt` needs `points` (number of x,y lines, at least 1)"),
            )),
            LandmarkFormat::MeasurementMap if src.pairs.is_empty() => diags.push(ctx.diag(
                None,
                format!("collection `{name}`: landmarks.format `measurement_map` needs `pairs`"),
            )),
            _ => {}
        }
    if src.names.is_some() && src.format != LandmarkFormat::SlicerFcsv {
        diags.push(ctx.diag(
            None,
            format!(
                "collection `{name}`: landmarks.names reads the `label`/`desc` columns of `.fcsv` files; it needs format `slicer_fcsv`, not `{}`",
                src.format.as_str()
            ),
        ));
    }
    if src.index_base > 1 {
        diags.push(ctx.diag(
            None,
            format!(
                "collection `{name}`: landmarks.index_base must be 0 or 1, found {}",
                src.index_base
            ),
        ));
    }
    let mut labels = BTreeSet::new();
    for pair in &src.pairs {
        if pair.label == 0 || !labels.insert(pair.label) {
            diags.push(ctx.diag(
                None,
                format!(
                    "collection `{name}`: landmarks.pairs label {} is 0 or used twice",
                    pair.label
                ),
            ));
        }
        if pair.larger_first_axis > 2 {
            diags.push(ctx.diag(
                    None,
                    format!("collection `{name}`: landmarks.pairs larger_first_axis must be 0, 1 or 2, found {}", pair.larger_first_axis),
                ));
        }
    }
    for pattern in &src.average_with {
        if pattern.matches("{case}").count() != 1
            || Path::new(pattern).is_absolute()
            || pattern.split('/').any(|p| p == "..")
        {
            diags.push(ctx.diag(
                    None,
                    format!("collection `{name}`: landmarks.average_with `{pattern}` must be relative with `{{case}}` exactly once"),
                ));
        }
    }
    if let Some(sp) = src.pixel_spacing_mm {
        if sp.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            diags.push(ctx.diag(None, format!("collection `{name}`: landmarks.pixel_spacing_mm must be positive, found {sp:?}")));
        }
    }
    if let Some(t) = &src.transform {
        if t.is_empty() || t.contains('/') {
            diags.push(ctx.diag(None, format!("collection `{name}`: landmarks.transform must be a file name glob, found `{t}`")));
        }
    }
}

/// A `landmarks` task: no labels, named landmarks, and measurements of the right arity over them.
fn validate_landmark_task(ctx: &Ctx, t: &Task, named_by_files: bool, diags: &mut Vec<Diagnostic>) {
    if !t.labels.is_empty() {
        diags.push(ctx.diag(
            None,
            format!("task `{}`: kind `landmarks` takes no `labels`", t.id),
        ));
    }
    if (t.landmarks.is_empty() && !named_by_files) || t.measurements.is_empty() {
        diags.push(ctx.diag(
            None,
            format!(
                "task `{}`: kind `landmarks` needs `landmarks` (unless its collections take names from their files, landmarks.names) and `measurements`",
                t.id
            ),
        ));
    }
    let mut ids = BTreeSet::new();
    for l in &t.landmarks {
        if l.id.is_empty() || l.name.english().trim().is_empty() || !ids.insert(l.id.as_str()) {
            diags.push(ctx.diag(
                None,
                format!(
                    "task `{}`: landmark `{}` has an empty id or name, or is defined twice",
                    t.id, l.id
                ),
            ));
        }
    }
    let mut keys = BTreeSet::new();
    for ms in &t.measurements {
        if ms.id.is_empty() || ms.id.contains('/') || !keys.insert(ms.id.as_str()) {
            diags.push(ctx.diag(
                None,
                format!(
                    "task `{}`: measurement id `{}` is empty, has a slash or is used twice",
                    t.id, ms.id
                ),
            ));
        }
        if ms.points.len() != ms.kind.point_count() {
            diags.push(ctx.diag(
                None,
                format!(
                    "task `{}`: measurement `{}` of kind `{}` needs {} points, found {}",
                    t.id,
                    ms.id,
                    ms.kind.as_str(),
                    ms.kind.point_count(),
                    ms.points.len()
                ),
            ));
        }
        for p in &ms.points {
            if !ids.contains(p.as_str()) && !named_by_files {
                diags.push(ctx.diag(None, format!("task `{}`: measurement `{}` names landmark `{p}`, which the task does not define", t.id, ms.id)));
            }
        }
    }
}
