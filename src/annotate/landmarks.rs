//! Landmark measurement facts (docs/measurements.md §8): a manifest measurement evaluated on a case's points,
//! and where those points appear in the displayed slice.

use std::collections::BTreeMap;

use super::frame::PlaneView;
use crate::geom::measure;
use crate::manifest::{MeasureKind, MeasurementDef};

/// Why a measurement could not be evaluated on a case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MeasureError {
    #[error("measurement `{measurement}`: landmark `{landmark}` is not in the landmark file")]
    /// A measurement names a landmark the file does not have.
    MissingLandmark {
        /// Name of the measurement in the manifest.
        measurement: String,
        /// Name of the missing landmark.
        landmark: String,
    },
    #[error("measurement `{measurement}`: a line or ray has zero length, so no angle exists")]
    /// A line or ray of the measurement has zero length.
    Degenerate {
        /// Name of the measurement in the manifest.
        measurement: String,
    },
}

/// A measurement's value (mm for distances, degrees for angles) and its points in index space, in the
/// order of the manifest's `points`.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementFact<const N: usize> {
    /// Measured value: mm for distances, degrees for angles.
    pub value: f64,
    /// The landmark points used, in index space, in manifest order.
    pub points: Vec<[f64; N]>,
}

/// Evaluates `def` on `landmarks` (index-space points) with per-axis `spacing_mm`.
pub fn measure<const N: usize>(
    def: &MeasurementDef,
    landmarks: &BTreeMap<String, [f64; N]>,
    spacing_mm: [f64; N],
) -> Result<MeasurementFact<N>, MeasureError> {
    let points = def
        .points
        .iter()
        .map(|id| {
            landmarks
                .get(id)
                .copied()
                .ok_or_else(|| MeasureError::MissingLandmark {
                    measurement: def.id.clone(),
                    landmark: id.clone(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let degenerate = || MeasureError::Degenerate {
        measurement: def.id.clone(),
    };
    let value = match (def.kind, points.as_slice()) {
        (MeasureKind::Distance, [a, b]) => measure::distance_mm(*a, *b, spacing_mm),
        (MeasureKind::LineAngle, [a1, a2, b1, b2]) => {
            measure::line_angle_deg(*a1, *a2, *b1, *b2, spacing_mm).ok_or_else(degenerate)?
        }
        (MeasureKind::VertexAngle, [p1, v, p2]) => {
            measure::vertex_angle_deg(*p1, *v, *p2, spacing_mm).ok_or_else(degenerate)?
        }
        // Manifest validation fixes the number of points per kind.
        _ => return Err(degenerate()),
    };
    Ok(MeasurementFact { value, points })
}

/// Display position of a continuous canonical voxel index in `view`: `(slice, x, y)` with the same axis
/// reversals as [`PlaneView::voxel_to_display`], extended to fractional indices.
pub fn display_point(view: &PlaneView, voxel: [f64; 3]) -> (f64, f64, f64) {
    let shape = view.shape();
    let along = |axis: usize, to_display: &dyn Fn(usize) -> usize| {
        let n = shape[axis];
        let v = voxel[axis];
        if n > 1 && to_display(0) != 0 {
            (n - 1) as f64 - v
        } else {
            v
        }
    };
    (
        voxel[view.fixed_axis()],
        along(view.col_axis(), &|v| view.x_of(v)),
        along(view.row_axis(), &|v| view.y_of(v)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotate::DisplayFrame;
    use crate::manifest::Plane;

    fn def(kind: MeasureKind, points: &[&str]) -> MeasurementDef {
        MeasurementDef {
            id: "m".into(),
            kind,
            points: points.iter().map(|p| p.to_string()).collect(),
            plane: Plane::Sagittal,
            name: None,
        }
    }

    #[test]
    fn measurements_use_named_points_in_order() {
        let pts: BTreeMap<String, [f64; 2]> =
            [("S", [0.0, 0.0]), ("N", [30.0, 0.0]), ("A", [30.0, 40.0])]
                .map(|(k, v)| (k.to_string(), v))
                .into();
        let d = measure(&def(MeasureKind::Distance, &["S", "A"]), &pts, [0.1, 0.1]).expect("ok");
        assert!((d.value - 5.0).abs() < 1e-12);
        assert_eq!(d.points, vec![[0.0, 0.0], [30.0, 40.0]]);
        let v = measure(
            &def(MeasureKind::VertexAngle, &["S", "N", "A"]),
            &pts,
            [0.1, 0.1],
        )
        .expect("ok");
        assert!((v.value - 90.0).abs() < 1e-12);
        let err = measure(&def(MeasureKind::Distance, &["S", "X"]), &pts, [1.0, 1.0])
            .expect_err("missing");
        assert!(err.to_string().contains("`X`"));
        let err = measure(
            &def(MeasureKind::LineAngle, &["S", "S", "N", "A"]),
            &pts,
            [1.0, 1.0],
        )
        .expect_err("zero");
        assert!(matches!(err, MeasureError::Degenerate { .. }));
    }

    #[test]
    fn display_points_follow_the_view_at_fractional_indices() {
        let shape = [5, 4, 3];
        for frame in [DisplayFrame::Radiological, DisplayFrame::RawArray] {
            for plane in Plane::ALL {
                let view = PlaneView::new(plane, frame, shape, [1.0, 1.0, 1.0]);
                let (s, x, y) = view.voxel_to_display([3, 2, 1]);
                assert_eq!(
                    display_point(&view, [3.0, 2.0, 1.0]),
                    (s as f64, x as f64, y as f64)
                );
                // Half a voxel further along every axis moves the display point by ±0.5.
                let (_, xf, yf) = display_point(&view, [3.5, 2.5, 1.5]);
                assert_eq!(((xf - x as f64).abs(), (yf - y as f64).abs()), (0.5, 0.5));
            }
        }
    }
}
