//! The MedVision profile's split: CPython's `random.seed(1024); random.shuffle(ids)` cut at `int(0.7 * n)`.
//!
//! Written by hand because the split must equal CPython's exactly and no crate reproduces CPython's seeding
//! (`init_by_array` over the seed's 32-bit digits) and `_randbelow` rejection sampling: MT19937 as in
//! CPython's `_randommodule.c`, `shuffle` as in `random.py`.

/// MT19937 seeded like CPython's `random.seed(n)` for a non-negative integer `n < 2^32`.
pub struct CpythonRandom {
    state: [u32; 624],
    index: usize,
}

impl CpythonRandom {
    /// Seeds the generator as CPython's `random.seed(int)` does.
    pub fn new(seed: u32) -> CpythonRandom {
        let mut rng = CpythonRandom {
            state: [0; 624],
            index: 624,
        };
        rng.init_genrand(19_650_218);
        // init_by_array with the single key word `seed`.
        let key = [seed];
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..624.max(key.len()) {
            let prev = rng.state[i - 1];
            rng.state[i] = (rng.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= 624 {
                rng.state[0] = rng.state[623];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..623 {
            let prev = rng.state[i - 1];
            rng.state[i] = (rng.state[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= 624 {
                rng.state[0] = rng.state[623];
                i = 1;
            }
        }
        rng.state[0] = 0x8000_0000;
        rng
    }

    fn init_genrand(&mut self, seed: u32) {
        self.state[0] = seed;
        for i in 1..624 {
            let prev = self.state[i - 1];
            self.state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = 624;
    }

    fn generate(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for k in 0..624 {
            let y = (self.state[k] & UPPER) | (self.state[(k + 1) % 624] & LOWER);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.state[k] = self.state[(k + 397) % 624] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// CPython's `genrand_uint32`.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            self.generate();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.next_u32() >> (32 - k)
    }

    /// `random._randbelow(n)` for `1 <= n < 2^32`: rejection sampling on `n.bit_length()` bits.
    fn randbelow(&mut self, n: u32) -> u32 {
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.shuffle(items)`.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow((i + 1) as u32) as usize;
            items.swap(i, j);
        }
    }
}

/// MedVision's split of case ids: shuffle with seed 1024, the first `int(0.7 * n)` train, the rest test.
/// Returns `(train, test)`.
pub fn medvision_split(case_ids: &[String]) -> (Vec<String>, Vec<String>) {
    let mut ids = case_ids.to_vec();
    CpythonRandom::new(1024).shuffle(&mut ids);
    let cut = (0.7 * ids.len() as f64) as usize;
    let test = ids.split_off(cut);
    (ids, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3.11: `random.seed(1024); random.getrandbits(32)` and `random.shuffle`.
    #[test]
    fn matches_cpython_stream() {
        let mut rng = CpythonRandom::new(1024);
        assert_eq!(
            [rng.next_u32(), rng.next_u32(), rng.next_u32()],
            [3_423_310_448, 82_180_047, 2_076_611_819]
        );
    }

    #[test]
    fn matches_cpython_shuffle_and_cut() {
        let ids: Vec<String> = (0..10).map(|i| format!("case_{i:05}")).collect();
        let (train, test) = medvision_split(&ids);
        let order: Vec<&str> = train.iter().chain(&test).map(String::as_str).collect();
        assert_eq!(
            order,
            [
                "case_00005",
                "case_00001",
                "case_00008",
                "case_00003",
                "case_00009",
                "case_00004",
                "case_00002",
                "case_00006",
                "case_00007",
                "case_00000"
            ]
        );
        assert_eq!(train.len(), 7);

        let ids: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        let mut shuffled = ids.clone();
        CpythonRandom::new(1024).shuffle(&mut shuffled);
        assert_eq!(&shuffled[..5], ["c48", "c681", "c157", "c835", "c332"]);
        assert_eq!(&shuffled[997..], ["c495", "c19", "c816"]);
    }
}
