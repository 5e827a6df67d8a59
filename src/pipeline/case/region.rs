//! Region labels (a label that is the union of several mask values, nnU-Net's region-based labels): the mask
//! values a label map may hold, and the per-region binary label map whose statistics answer questions about
//! the region. Collections without region labels never reach the region path, so their output is unchanged.

use std::collections::BTreeMap;

use crate::manifest::Label;
use crate::volume::Volume;

/// Mask values the label map may hold besides background: every plain label's id and every region's
/// members (which need not be named labels themselves).
pub(super) fn mask_values(labels: &BTreeMap<u16, Label>) -> Vec<u16> {
    let mut values: Vec<u16> = labels
        .iter()
        .flat_map(|(&id, label)| label.voxel_ids(id))
        .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// Splits a task's label ids into plain labels (read straight from the mask) and region labels with their
/// members, both ascending.
pub(super) fn split<'l>(
    labels: &'l BTreeMap<u16, Label>,
    ids: &[u16],
) -> (Vec<u16>, Vec<(u16, &'l [u16])>) {
    let mut plain = Vec::new();
    let mut regions = Vec::new();
    for &id in ids {
        match labels.get(&id).and_then(|l| l.region.as_deref()) {
            Some(members) => regions.push((id, members)),
            None => plain.push(id),
        }
    }
    (plain, regions)
}

/// The label map of one region: `id` where the mask holds any of `members`, background elsewhere.
pub(super) fn region_mask(mask: &Volume<u16>, members: &[u16], id: u16) -> Volume<u16> {
    let mut is_member = vec![false; 1 << 16];
    for &m in members {
        is_member[m as usize] = true;
    }
    Volume {
        data: mask
            .data
            .mapv(|v| if is_member[v as usize] { id } else { 0 }),
        geometry: mask.geometry.clone(),
    }
}

/// The labels offered as answers to "which structure is in the red box?" about `id`: every label whose
/// mask values do not overlap `id`'s (a region and its members can share a box, so neither may be a wrong
/// option for the other). The whole map when no label is a region.
pub(super) fn identify_options(
    labels: &BTreeMap<u16, Label>,
    id: u16,
) -> std::borrow::Cow<'_, BTreeMap<u16, Label>> {
    if labels.values().all(|l| l.region.is_none()) {
        return std::borrow::Cow::Borrowed(labels);
    }
    let own = labels
        .get(&id)
        .map_or_else(|| vec![id], |l| l.voxel_ids(id));
    std::borrow::Cow::Owned(
        labels
            .iter()
            .filter(|&(&other, label)| {
                other == id || !label.voxel_ids(other).iter().any(|v| own.contains(v))
            })
            .map(|(&k, l)| (k, l.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Localized;
    use crate::volume::Geometry;
    use ndarray::Array3;

    fn label(name: &str, region: Option<Vec<u16>>) -> Label {
        Label {
            name: Localized::new(name.to_string()),
            group: None,
            vqa_task: None,
            file: None,
            region,
        }
    }

    fn brats() -> BTreeMap<u16, Label> {
        BTreeMap::from([
            (1, label("edema", None)),
            (3, label("enhancing tumor", None)),
            (4, label("tumor core", Some(vec![2, 3]))),
            (5, label("whole tumor", Some(vec![1, 2, 3]))),
        ])
    }

    #[test]
    fn values_include_unnamed_members_and_exclude_region_ids() {
        assert_eq!(mask_values(&brats()), vec![1, 2, 3]);
        let map = brats();
        let (plain, regions) = split(&map, &[1, 3, 4, 5]);
        assert_eq!(plain, vec![1, 3]);
        assert_eq!(regions, vec![(4, &[2u16, 3][..]), (5, &[1u16, 2, 3][..])]);
    }

    #[test]
    fn region_mask_is_the_union_of_members() {
        let data = Array3::from_shape_vec((1, 1, 5), vec![0u16, 1, 2, 3, 2]).expect("shape");
        let geometry = Geometry {
            spacing_mm: [1.0; 3],
            affine: [
                [1.0, 0.0, 0.0, 0.0],
                [0.0, 1.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.0],
                [0.0, 0.0, 0.0, 1.0],
            ],
            source_axes: "RAS".into(),
        };
        let mask = Volume { data, geometry };
        let core = region_mask(&mask, &[2, 3], 4);
        assert_eq!(
            core.data.iter().copied().collect::<Vec<_>>(),
            vec![0, 0, 4, 4, 4]
        );
    }

    #[test]
    fn identify_options_drop_overlapping_labels() {
        let map = brats();
        let ids = |id| {
            identify_options(&map, id)
                .keys()
                .copied()
                .collect::<Vec<_>>()
        };
        // Edema (1) overlaps whole tumor (1, 2, 3) only.
        assert_eq!(ids(1), vec![1, 3, 4]);
        // Tumor core (2, 3) overlaps enhancing tumor (3) and whole tumor.
        assert_eq!(ids(4), vec![1, 4]);
        assert_eq!(ids(5), vec![5]);
        let plain = BTreeMap::from([(1, label("a", None)), (2, label("b", None))]);
        assert!(matches!(
            identify_options(&plain, 1),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
