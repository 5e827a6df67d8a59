//! The size `datasets` records for a split (`num_bytes` in the card): the Arrow memory of the table it loads
//! from the shards, counted as pyarrow's `Table.nbytes` counts it, so the card can say it before anyone loads.
//!
//! Hand-written: no crate computes another library's accounting. `datasets` reads a shard one row group at a
//! time (batches of the first row group's length) and adds up each batch's `nbytes` after casting it to the
//! card's features. For a batch that Arrow C++'s Parquet reader made, that is per array:
//! - a fixed-width leaf (`int32`, `int64`, `float64`, a list's numbers): its values, plus one validity bit per
//!   value, which the reader allocates for every nullable leaf of this kind whether or not a value is null;
//! - a variable-length leaf (`string`, `binary`): its value bytes and 4 bytes of offset per value (pyarrow
//!   counts the offsets of the values, not the extra closing one), plus validity bits only when one value is
//!   null;
//! - a list: 4 bytes of offset per value, validity bits only when one value is null, and its items;
//! - a struct (the image): validity bits only when one value is null, and its fields.
//!
//! Validity bits are rounded up to whole bytes per array. The image's bytes are counted per row: `datasets`
//! decodes the shard's dictionary, so every row holds its slice's PNG once loaded. The sink adds this up per
//! row group, which is exact while no row group of a shard is longer than the shard's first (true unless
//! row groups are cut by `row_group_bytes` before `row_group_rows`, i.e. rows of over 1 MB each); otherwise
//! `datasets` splits the longer ones and the count is off by a few bytes of bitmap per row group. Equal to
//! what `datasets` 3.6 and 5.2 (pyarrow 26) record on every split of all 22 fixtures' builds; the same rule
//! gave pyarrow 15's `nbytes` array by array (`scripts/arrow_size_golden.py`, `tests/golden/arrow_size/`).

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::Array;
use arrow_schema::DataType;

/// Bytes of validity bitmap for `len` values.
fn bitmap_bytes(len: usize) -> u64 {
    len.div_ceil(8) as u64
}

/// Validity bytes of an array whose bitmap Arrow's Parquet reader only allocates when a value is null.
fn bitmap_if_nulls(array: &dyn Array) -> u64 {
    if array.null_count() > 0 {
        bitmap_bytes(array.len())
    } else {
        0
    }
}

/// The bytes pyarrow's `nbytes` gives for `array` once `datasets` has read it back from Parquet (see the
/// module documentation). Types outside the shard schema count their values' width and a bitmap.
pub(crate) fn loaded_arrow_bytes(array: &dyn Array) -> u64 {
    let len = array.len() as u64;
    match array.data_type() {
        DataType::Utf8 | DataType::Binary => {
            let data = byte_offsets(array).map_or(0, |offsets| span(offsets).1);
            bitmap_if_nulls(array) + 4 * len + data as u64
        }
        DataType::Dictionary(key, _) if **key == DataType::Int32 => {
            // Read back as the plain values it stands for: each row's value again.
            let dictionary = array.as_dictionary::<Int32Type>();
            let data: u64 = byte_offsets(dictionary.values().as_ref()).map_or(0, |offsets| {
                let value_len =
                    |key: i32| (offsets[key as usize + 1] - offsets[key as usize]) as u64;
                dictionary.keys().iter().flatten().map(value_len).sum()
            });
            bitmap_if_nulls(array) + 4 * len + data
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let (first, count) = span(list.value_offsets());
            let items = list.values().slice(first, count);
            bitmap_if_nulls(array) + 4 * len + loaded_arrow_bytes(items.as_ref())
        }
        DataType::Struct(_) => {
            let fields = array.as_struct();
            bitmap_if_nulls(array)
                + fields
                    .columns()
                    .iter()
                    .map(|column| loaded_arrow_bytes(column.as_ref()))
                    .sum::<u64>()
        }
        other => {
            let width = other.primitive_width().unwrap_or(0) as u64;
            bitmap_bytes(array.len()) + width * len
        }
    }
}

/// The offsets of a string or binary array.
fn byte_offsets(array: &dyn Array) -> Option<&[i32]> {
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().value_offsets()),
        DataType::Binary => Some(array.as_binary::<i32>().value_offsets()),
        _ => None,
    }
}

/// The first value `offsets` refer to and how many values (bytes, or list items) they span.
fn span(offsets: &[i32]) -> (usize, usize) {
    let first = offsets[0] as usize;
    (first, offsets[offsets.len() - 1] as usize - first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::{Int32Builder, ListBuilder};
    use arrow_array::{
        BinaryArray, DictionaryArray, Float64Array, Int32Array, StringArray, StructArray,
    };
    use arrow_schema::{Field, Fields};
    use std::sync::Arc;

    // Expected values are pyarrow 26's `nbytes` of the same arrays written with pyarrow.parquet.write_table and
    // read back with ParquetFile.read_row_group; each comment gives that array's buffer sizes and its nbytes.

    #[test]
    fn fixed_width_leaves_always_count_a_bitmap() {
        // int32, 100 values, no null: buffers [13, 400], nbytes 413.
        let ints = Int32Array::from((0..100).collect::<Vec<i32>>());
        assert_eq!(loaded_arrow_bytes(&ints), 413);
        // float64, 9 values, 2 null: [2, 72], nbytes 74.
        let floats = Float64Array::from(vec![
            Some(1.0),
            None,
            Some(2.0),
            None,
            Some(3.0),
            Some(4.0),
            Some(5.0),
            Some(6.0),
            Some(7.0),
        ]);
        assert_eq!(loaded_arrow_bytes(&floats), 74);
    }

    #[test]
    fn strings_count_offsets_per_value_and_a_bitmap_only_with_nulls() {
        // 100 × "KiTS23": [None, 404, 600], nbytes 1000 (the offsets counted 4 bytes per value).
        let strings = StringArray::from(vec!["KiTS23"; 100]);
        assert_eq!(loaded_arrow_bytes(&strings), 1000);
        // ["ab", null, "c"]: [1, 16, 3], nbytes 1 + 12 + 3 = 16.
        let with_null = StringArray::from(vec![Some("ab"), None, Some("c")]);
        assert_eq!(loaded_arrow_bytes(&with_null), 16);
    }

    #[test]
    fn lists_count_offsets_and_their_items_of_the_slice_only() {
        // [[1, 2], null, [3]] as list<int32>: [1, 16, 1, 12], nbytes 1 + 12 + (1 + 12) = 26.
        let mut builder = ListBuilder::new(Int32Builder::new());
        builder.append_value([Some(1), Some(2)]);
        builder.append_null();
        builder.append_value([Some(3)]);
        let list = builder.finish();
        assert_eq!(loaded_arrow_bytes(&list), 26);
        // A slice counts only the items it refers to: [[3]] is [None, 8, 1, 4], nbytes 4 + (1 + 4) = 9.
        assert_eq!(loaded_arrow_bytes(&list.slice(2, 1)), 9);
    }

    #[test]
    fn a_dictionary_image_counts_each_rows_png() {
        // Three rows sharing two PNGs of 5 and 7 bytes; pyarrow's plain struct of the same rows is
        // [None, None, 16, 17, 1, 16, 0], nbytes (4 × 3 + 17) + (1 + 4 × 3) = 42.
        let values = BinaryArray::from_vec(vec![b"12345".as_slice(), b"1234567".as_slice()]);
        let keys = Int32Array::from(vec![0, 0, 1]);
        let bytes = DictionaryArray::<Int32Type>::try_new(keys, Arc::new(values)).unwrap();
        let path = StringArray::from(vec![None::<&str>; 3]);
        let fields = Fields::from(vec![
            Field::new("bytes", bytes.data_type().clone(), true),
            Field::new("path", DataType::Utf8, true),
        ]);
        let image = StructArray::try_new(
            fields,
            vec![Arc::new(bytes) as Arc<dyn Array>, Arc::new(path)],
            None,
        )
        .unwrap();
        assert_eq!(loaded_arrow_bytes(&image), 42);
    }
}
