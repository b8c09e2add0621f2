//! A node's relations as an ordered set that costs what it holds.
//!
//! Almost every node has a handful of relations, and a `BTreeSet` allocates
//! a leaf of eleven slots for even one (about 290 bytes for these edges);
//! two sets a node made that most of an entity's share of the index at
//! 100,000 entities. A few edges are a sorted vector of exactly their size;
//! past [`FEW`] (a Group with many members, a System with many parts) they
//! become a `BTreeSet`, so adding one stays O(log n) however many there are.

use std::collections::BTreeSet;

/// The most edges kept in a sorted vector.
const FEW: usize = 32;

/// An ordered set of `T`, a sorted vector while small.
#[derive(Debug, Clone)]
pub enum Edges<T> {
    /// Sorted, without duplicates, at most [`FEW`].
    Few(Vec<T>),
    Many(BTreeSet<T>),
}

impl<T> Default for Edges<T> {
    fn default() -> Self {
        Edges::Few(Vec::new())
    }
}

impl<T: Ord + Clone> Edges<T> {
    /// Adds `edge`; whether it was not there.
    pub fn insert(&mut self, edge: T) -> bool {
        match self {
            Edges::Many(set) => set.insert(edge),
            Edges::Few(few) => match few.binary_search(&edge) {
                Ok(_) => false,
                Err(_) if few.len() == FEW => {
                    let mut set: BTreeSet<T> = std::mem::take(few).into_iter().collect();
                    set.insert(edge);
                    *self = Edges::Many(set);
                    true
                }
                Err(at) => {
                    few.reserve_exact(1);
                    few.insert(at, edge);
                    true
                }
            },
        }
    }

    /// Drops `edge`; whether it was there.
    pub fn remove(&mut self, edge: &T) -> bool {
        match self {
            Edges::Many(set) => set.remove(edge),
            Edges::Few(few) => match few.binary_search(edge) {
                Ok(at) => {
                    few.remove(at);
                    few.shrink_to_fit();
                    true
                }
                Err(_) => false,
            },
        }
    }

    pub fn contains(&self, edge: &T) -> bool {
        match self {
            Edges::Many(set) => set.contains(edge),
            Edges::Few(few) => few.binary_search(edge).is_ok(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Edges::Many(set) => set.is_empty(),
            Edges::Few(few) => few.is_empty(),
        }
    }

    /// The edges in order.
    pub fn iter(&self) -> Iter<'_, T> {
        match self {
            Edges::Many(set) => Iter::Many(set.iter()),
            Edges::Few(few) => Iter::Few(few.iter()),
        }
    }

    /// The edges of `self` that `other` does not hold, in order.
    pub fn difference<'a>(&'a self, other: &'a Edges<T>) -> impl Iterator<Item = &'a T> + 'a {
        self.iter().filter(move |edge| !other.contains(edge))
    }
}

/// The edges of an [`Edges`], in order.
pub enum Iter<'a, T> {
    Few(std::slice::Iter<'a, T>),
    Many(std::collections::btree_set::Iter<'a, T>),
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        match self {
            Iter::Few(few) => few.next(),
            Iter::Many(many) => many.next(),
        }
    }
}

impl<'a, T: Ord + Clone> IntoIterator for &'a Edges<T> {
    type Item = &'a T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: Ord + Clone> FromIterator<T> for Edges<T> {
    fn from_iter<I: IntoIterator<Item = T>>(edges: I) -> Self {
        let set: BTreeSet<T> = edges.into_iter().collect();
        if set.len() > FEW {
            return Edges::Many(set);
        }
        let mut few = Vec::with_capacity(set.len());
        few.extend(set);
        Edges::Few(few)
    }
}

impl<T: Ord + Clone> PartialEq for Edges<T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<T: Ord + Clone> Eq for Edges<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(edges: &Edges<u32>) -> Vec<u32> {
        edges.iter().copied().collect()
    }

    #[test]
    fn a_few_edges_are_a_vector_of_exactly_their_size_and_stay_ordered() {
        let mut edges: Edges<u32> = [5, 1, 3, 1].into_iter().collect();
        assert_eq!(items(&edges), [1, 3, 5]);
        assert!(edges.insert(2));
        assert!(!edges.insert(3));
        assert!(edges.remove(&5));
        assert!(!edges.remove(&5));
        assert_eq!(items(&edges), [1, 2, 3]);
        let Edges::Few(few) = &edges else {
            panic!("{edges:?} should be few");
        };
        assert_eq!(few.capacity(), 3);
    }

    #[test]
    fn past_the_few_edges_become_a_tree_and_answer_the_same() {
        let mut edges = Edges::default();
        // Descending, so every insert in the vector form lands at the front.
        for n in (0..1000u32).rev() {
            assert!(edges.insert(n));
        }
        assert!(matches!(edges, Edges::Many(_)));
        assert_eq!(items(&edges), (0..1000).collect::<Vec<_>>());
        assert!(edges.contains(&999) && !edges.contains(&1000));
        let evens: Edges<u32> = (0..1000).step_by(2).collect();
        assert_eq!(edges.difference(&evens).count(), 500);
        assert!(edges.difference(&evens).all(|n| n % 2 == 1));
        let same: Edges<u32> = (0..1000).collect();
        assert_eq!(edges, same);
        for n in 0..1000 {
            assert!(edges.remove(&n));
        }
        assert!(edges.is_empty());
    }

    #[test]
    fn sets_with_the_same_edges_are_equal_in_either_form() {
        let few: Edges<u32> = (0..10).collect();
        let mut many: Edges<u32> = (0..100).collect();
        for n in 10..100 {
            many.remove(&n);
        }
        assert!(matches!(many, Edges::Many(_)));
        assert_eq!(few, many);
    }
}
