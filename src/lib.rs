//! kms-material-guard library.
