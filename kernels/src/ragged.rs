//! Ragged rows in one flat buffer: the columnar batch every kernel takes.

/// Rows of different lengths, stored back to back: row `r` is
/// `values[offsets[r] as usize..offsets[r + 1] as usize]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ragged<T> {
    values: Vec<T>,
    offsets: Vec<u32>,
}

impl<T: Copy> Ragged<T> {
    pub fn new() -> Self {
        Ragged { values: Vec::new(), offsets: vec![0] }
    }

    pub fn with_capacity(rows: usize, values: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Ragged { values: Vec::with_capacity(values), offsets }
    }

    pub fn from_rows<R: AsRef<[T]>>(rows: impl IntoIterator<Item = R>) -> Self {
        let mut ragged = Ragged::new();
        for row in rows {
            ragged.push_row(row.as_ref());
        }
        ragged
    }

    /// Appends a row. Panics past `u32::MAX` values in all, which no batch comes near.
    pub fn push_row(&mut self, row: &[T]) {
        self.values.extend_from_slice(row);
        let end = u32::try_from(self.values.len()).expect("a kernel batch holds fewer than 2^32 values");
        self.offsets.push(end);
    }

    /// Appends a row from an iterator.
    pub fn push_iter(&mut self, row: impl IntoIterator<Item = T>) {
        self.values.extend(row);
        let end = u32::try_from(self.values.len()).expect("a kernel batch holds fewer than 2^32 values");
        self.offsets.push(end);
    }

    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn row(&self, r: usize) -> &[T] {
        &self.values[self.offsets[r] as usize..self.offsets[r + 1] as usize]
    }

    pub fn values(&self) -> &[T] {
        &self.values
    }

    pub fn offsets(&self) -> &[u32] {
        &self.offsets
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.offsets.truncate(1);
    }

    pub(crate) fn rows_u32(&self) -> Result<u32, crate::KernelError> {
        u32::try_from(self.rows()).map_err(|_| crate::KernelError::Input("more than 2^32 rows".into()))
    }
}

impl<T: Copy> Default for Ragged<T> {
    fn default() -> Self {
        Ragged::new()
    }
}
