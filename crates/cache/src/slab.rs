//! Storage for entries, addressed by a stable `u32` index.
//!
//! The hash table and the policies refer to entries by index, so an entry never moves while
//! it lives, and a freed index is reused by the next insert (keeping the policies' per-index
//! arrays dense).

#[derive(Debug)]
enum Place<T> {
    Taken(T),
    Free { next_free: u32 },
}

const NO_FREE: u32 = u32::MAX;

#[derive(Debug)]
pub(crate) struct Slab<T> {
    places: Vec<Place<T>>,
    first_free: u32,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            places: Vec::new(),
            first_free: NO_FREE,
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, value: T) -> u32 {
        self.len += 1;
        if self.first_free != NO_FREE {
            let idx = self.first_free;
            let place = &mut self.places[idx as usize];
            let Place::Free { next_free } = *place else {
                unreachable!("free list points at a taken place")
            };
            self.first_free = next_free;
            *place = Place::Taken(value);
            idx
        } else {
            let idx = u32::try_from(self.places.len())
                .expect("a shard holds fewer than 2^32 - 1 entries");
            assert!(idx != NO_FREE, "a shard holds fewer than 2^32 - 1 entries");
            self.places.push(Place::Taken(value));
            idx
        }
    }

    pub(crate) fn remove(&mut self, idx: u32) -> T {
        let place = std::mem::replace(
            &mut self.places[idx as usize],
            Place::Free {
                next_free: self.first_free,
            },
        );
        let Place::Taken(value) = place else {
            panic!("slab index {idx} removed twice")
        };
        self.first_free = idx;
        self.len -= 1;
        value
    }

    pub(crate) fn get(&self, idx: u32) -> &T {
        match &self.places[idx as usize] {
            Place::Taken(value) => value,
            Place::Free { .. } => panic!("slab index {idx} is free"),
        }
    }

    pub(crate) fn get_mut(&mut self, idx: u32) -> &mut T {
        match &mut self.places[idx as usize] {
            Place::Taken(value) => value,
            Place::Free { .. } => panic!("slab index {idx} is free"),
        }
    }

    /// Every taken index with its value.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.places.iter().enumerate().filter_map(|(i, p)| match p {
            Place::Taken(v) => Some((i as u32, v)),
            Place::Free { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_freed_indices() {
        let mut slab = Slab::default();
        let a = slab.insert("a");
        let b = slab.insert("b");
        assert_eq!(slab.remove(a), "a");
        let c = slab.insert("c");
        assert_eq!(c, a);
        assert_eq!(*slab.get(b), "b");
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.iter().count(), 2);
    }
}
