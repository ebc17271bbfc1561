//! Intrusive doubly linked lists over slot indices.
//!
//! Policies keep their queues as lists of slot indices rather than of boxed nodes: the links
//! live in one `Vec` indexed by slot, so moving an entry is a few index writes and no
//! allocation. Several lists may share one [`Links`] as long as a slot is on at most one of
//! them at a time (S3-FIFO's small and main queues, W-TinyLFU's three segments).

/// "No slot": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Link {
    /// Towards the head (newer end).
    prev: u32,
    /// Towards the tail (older end).
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

/// The links of every slot, shared by the lists of one policy.
#[derive(Debug, Default)]
pub(crate) struct Links {
    links: Vec<Link>,
}

impl Links {
    fn ensure(&mut self, idx: u32) {
        let needed = idx as usize + 1;
        if self.links.len() < needed {
            self.links
                .resize(needed.max(self.links.len() * 2), UNLINKED);
        }
    }

    /// The neighbour of `idx` towards the head, if any.
    pub(crate) fn newer(&self, idx: u32) -> Option<u32> {
        let prev = self.links[idx as usize].prev;
        (prev != NIL).then_some(prev)
    }
}

/// One list: `head` is the newest end, `tail` the oldest.
#[derive(Debug)]
pub(crate) struct List {
    head: u32,
    tail: u32,
    len: usize,
    /// Sum of the weights of the slots on the list, maintained by the caller's pushes and
    /// unlinks (each passes the slot's weight).
    weight: u64,
}

impl Default for List {
    fn default() -> Self {
        List {
            head: NIL,
            tail: NIL,
            len: 0,
            weight: 0,
        }
    }
}

impl List {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    pub(crate) fn tail(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }

    /// Puts `idx` at the head. The slot must not be on any list.
    pub(crate) fn push_head(&mut self, links: &mut Links, idx: u32, weight: u64) {
        links.ensure(idx);
        links.links[idx as usize] = Link {
            prev: NIL,
            next: self.head,
        };
        if self.head != NIL {
            links.links[self.head as usize].prev = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
        self.len += 1;
        self.weight += weight;
    }

    /// Takes `idx` off this list. The slot must be on this list.
    pub(crate) fn unlink(&mut self, links: &mut Links, idx: u32, weight: u64) {
        let Link { prev, next } = links.links[idx as usize];
        if prev != NIL {
            links.links[prev as usize].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            links.links[next as usize].prev = prev;
        } else {
            self.tail = prev;
        }
        links.links[idx as usize] = UNLINKED;
        self.len -= 1;
        self.weight -= weight;
    }

    /// Moves `idx`, which is on this list, to the head.
    pub(crate) fn move_to_head(&mut self, links: &mut Links, idx: u32, weight: u64) {
        if self.head != idx {
            self.unlink(links, idx, weight);
            self.push_head(links, idx, weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(list: &List, links: &Links) -> Vec<u32> {
        let mut out = Vec::new();
        let mut cursor = list.tail();
        while let Some(idx) = cursor {
            out.push(idx);
            cursor = links.newer(idx);
        }
        out
    }

    #[test]
    fn push_unlink_and_move_keep_order() {
        let mut links = Links::default();
        let mut list = List::default();
        for idx in [3, 1, 4, 0] {
            list.push_head(&mut links, idx, 2);
        }
        assert_eq!(collect(&list, &links), vec![3, 1, 4, 0]);
        list.move_to_head(&mut links, 1, 2);
        assert_eq!(collect(&list, &links), vec![3, 4, 0, 1]);
        list.unlink(&mut links, 3, 2);
        list.unlink(&mut links, 1, 2);
        assert_eq!(collect(&list, &links), vec![4, 0]);
        assert_eq!((list.len(), list.weight()), (2, 4));
        list.unlink(&mut links, 4, 2);
        list.unlink(&mut links, 0, 2);
        assert_eq!(list.tail(), None);
        assert_eq!(list.weight(), 0);
    }
}
