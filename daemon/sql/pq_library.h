// libpq, loaded with dlopen when a PostgreSQL database is first opened (common/shared_library):
// linked, it brings LDAP, SASL and GnuTLS (with nettle, p11-kit, ...) into every process, about
// 2.5 MiB resident and a dozen libraries to load, for a deployment on SQLite that never uses them.
#pragma once

#include <libpq-fe.h>

#include "common/result.h"

namespace sg {

/// The libpq functions the PostgreSQL engine calls (PQ<name> is <name> here).
struct PqLibrary {
  decltype(&::PQstatus) status;
  decltype(&::PQresultErrorField) resultErrorField;
  decltype(&::PQfinish) finish;
  decltype(&::PQresultStatus) resultStatus;
  decltype(&::PQclear) clear;
  decltype(&::PQresultErrorMessage) resultErrorMessage;
  decltype(&::PQerrorMessage) errorMessage;
  decltype(&::PQcmdStatus) cmdStatus;
  decltype(&::PQtransactionStatus) transactionStatus;
  decltype(&::PQsocket) socket;
  decltype(&::PQsetNoticeProcessor) setNoticeProcessor;
  decltype(&::PQntuples) ntuples;
  decltype(&::PQnfields) nfields;
  decltype(&::PQgetvalue) getvalue;
  decltype(&::PQgetlength) getlength;
  decltype(&::PQgetisnull) getisnull;
  decltype(&::PQftype) ftype;
  decltype(&::PQexecParams) execParams;
  decltype(&::PQexec) exec;
  decltype(&::PQconsumeInput) consumeInput;
  decltype(&::PQconnectdbParams) connectdbParams;
  decltype(&::PQcmdTuples) cmdTuples;
};

/// Loads libpq once; the same table after; safe from any thread. The error says what to install.
Result<const PqLibrary*> LoadPq();

/// The table, for code that runs after a successful LoadPq (OpenPostgres checks it).
const PqLibrary& Pq();

}  // namespace sg
