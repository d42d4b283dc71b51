//! Symbol interning: strings at the edges, small integers on the hot path.

use std::collections::HashMap;

use crate::event::Symbol;

/// The job's symbol universe, fixed before the dataflow starts so that every worker and every
/// process interns the same name to the same [`Symbol`].
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    names: Vec<String>,
    ids: HashMap<String, Symbol>,
}

impl SymbolTable {
    /// Builds a table from names in order; duplicates keep their first id.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut table = SymbolTable::default();
        for name in names {
            table.intern(name.into());
        }
        table
    }

    fn intern(&mut self, name: String) -> Symbol {
        if let Some(id) = self.ids.get(&name) {
            return *id;
        }
        let id = Symbol(u32::try_from(self.names.len()).expect("fewer than 2^32 symbols"));
        self.ids.insert(name.clone(), id);
        self.names.push(name);
        id
    }

    /// The id of `name`, if it is in the universe.
    pub fn get(&self, name: &str) -> Option<Symbol> {
        self.ids.get(name).copied()
    }

    /// The name of `symbol`; `"?"` for an id from another table (a programming error).
    pub fn name(&self, symbol: Symbol) -> &str {
        self.names.get(symbol.0 as usize).map_or("?", String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (Symbol, &str)> {
        self.names.iter().enumerate().map(|(i, n)| (Symbol(i as u32), n.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let table = SymbolTable::new(["AAPL", "MSFT", "AAPL"]);
        assert_eq!(table.len(), 2);
        assert_eq!(table.get("MSFT"), Some(Symbol(1)));
        assert_eq!(table.name(Symbol(0)), "AAPL");
        assert_eq!(table.get("TSLA"), None);
    }
}
