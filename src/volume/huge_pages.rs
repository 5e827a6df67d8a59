//! Transparent huge pages for voxel buffers. A volume is written once, front to back, and then read across
//! planes at strides of up to a whole slice: with 4 KiB pages a 100 MB volume costs ~25 600 first-touch page
//! faults on the inflating thread and a TLB miss per row of every sagittal or coronal gather; 2 MiB pages
//! cost ~50 faults and few misses (~−10 % CPU, Parquet only, on the 512×512×200 CT and on 16 cases:
//! docs/measurements.md §14, fourth session). Most kernels only give huge pages to memory that asks for them
//! (`enabled = madvise`), so the buffer asks. Linux only, through `rustix`; elsewhere nothing happens.

/// Buffers smaller than this keep the allocator's ordinary pages (below it a buffer may not even hold one
/// aligned huge page, and the faults saved are few).
#[cfg(target_os = "linux")]
const MIN_BYTES: usize = 4 << 20;

/// The huge-page size of x86-64 and of arm64 with 4 KiB base pages.
#[cfg(target_os = "linux")]
const HUGE_PAGE_BYTES: usize = 2 << 20;

/// Asks the kernel to back the huge-page-aligned interior of `buffer` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`); call it before the buffer is first written. Advice only: the contents never
/// change, a kernel with huge pages off ignores it, and a failure is ignored (the buffer keeps 4 KiB pages).
pub(super) fn advise<T>(buffer: &mut [T]) {
    #[cfg(target_os = "linux")]
    {
        let bytes = std::mem::size_of_val(buffer);
        if bytes < MIN_BYTES {
            return;
        }
        let base = buffer.as_mut_ptr().cast::<u8>();
        let start = base as usize;
        let first = start.next_multiple_of(HUGE_PAGE_BYTES);
        let end = (start + bytes) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
        if end <= first {
            return;
        }
        let interior = base.wrapping_add(first - start).cast::<std::ffi::c_void>();
        // SAFETY: `[interior, interior + (end - first))` lies inside `buffer`, which is borrowed exclusively
        // here. MADV_HUGEPAGE changes only how the kernel backs the range's future page faults (and lets
        // khugepaged merge its pages); it never changes the memory's contents or unmaps it, so no reference
        // into the buffer is invalidated. The one `unsafe` block of the crate, for that reason.
        #[allow(unsafe_code)]
        let _ = unsafe {
            rustix::mm::madvise(interior, end - first, rustix::mm::Advice::LinuxHugepage)
        };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buffer;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The `VmFlags` line of the mapping in `/proc/self/smaps` that holds `address`.
    fn vm_flags_at(address: usize) -> String {
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let mut inside = false;
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if let Some((lo, hi)) = range.split_once('-') {
                if let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                {
                    inside = (lo..hi).contains(&address);
                    continue;
                }
            }
            if inside {
                if let Some(flags) = line.strip_prefix("VmFlags:") {
                    return flags.trim().to_string();
                }
            }
        }
        panic!("no mapping holds {address:#x}")
    }

    /// A volume-sized buffer is marked for huge pages (`hg` in its mapping's flags, whether or not the kernel
    /// then finds free huge pages), keeps its contents, and a small one is left alone.
    #[test]
    fn a_large_buffer_asks_for_huge_pages_and_keeps_its_contents() {
        if !std::path::Path::new("/sys/kernel/mm/transparent_hugepage/enabled").exists() {
            eprintln!("skipped: this kernel has no transparent huge pages");
            return;
        }
        let mut big: Vec<u16> = vec![0; 8 << 20];
        advise(&mut big);
        let interior = (big.as_ptr() as usize).next_multiple_of(HUGE_PAGE_BYTES);
        let flags = vm_flags_at(interior);
        assert!(flags.split_whitespace().any(|f| f == "hg"), "{flags}");
        for (i, v) in big.iter_mut().enumerate() {
            *v = i as u16;
        }
        assert!(big.iter().enumerate().all(|(i, &v)| v == i as u16));

        let mut small: Vec<u16> = vec![0; 1 << 20];
        advise(&mut small);
        let flags = vm_flags_at(small.as_ptr() as usize);
        assert!(!flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }
}
