#include "daemon/sql/pq_library.h"

#include <string>

#include <fmt/format.h>

#include "common/shared_library.h"

namespace sg {

namespace {

Result<PqLibrary> Load() {
  auto opened = OpenLibrary("libpq.so.5", "libpq5");
  if (!opened) return opened.error();
  void* pq = *opened;
  PqLibrary libs{};
  std::string missing;
  BindSymbol(pq, "PQstatus", libs.status, missing);
  BindSymbol(pq, "PQresultErrorField", libs.resultErrorField, missing);
  BindSymbol(pq, "PQfinish", libs.finish, missing);
  BindSymbol(pq, "PQresultStatus", libs.resultStatus, missing);
  BindSymbol(pq, "PQclear", libs.clear, missing);
  BindSymbol(pq, "PQresultErrorMessage", libs.resultErrorMessage, missing);
  BindSymbol(pq, "PQerrorMessage", libs.errorMessage, missing);
  BindSymbol(pq, "PQcmdStatus", libs.cmdStatus, missing);
  BindSymbol(pq, "PQtransactionStatus", libs.transactionStatus, missing);
  BindSymbol(pq, "PQsocket", libs.socket, missing);
  BindSymbol(pq, "PQsetNoticeProcessor", libs.setNoticeProcessor, missing);
  BindSymbol(pq, "PQntuples", libs.ntuples, missing);
  BindSymbol(pq, "PQnfields", libs.nfields, missing);
  BindSymbol(pq, "PQgetvalue", libs.getvalue, missing);
  BindSymbol(pq, "PQgetlength", libs.getlength, missing);
  BindSymbol(pq, "PQgetisnull", libs.getisnull, missing);
  BindSymbol(pq, "PQftype", libs.ftype, missing);
  BindSymbol(pq, "PQexecParams", libs.execParams, missing);
  BindSymbol(pq, "PQexec", libs.exec, missing);
  BindSymbol(pq, "PQconsumeInput", libs.consumeInput, missing);
  BindSymbol(pq, "PQconnectdbParams", libs.connectdbParams, missing);
  BindSymbol(pq, "PQcmdTuples", libs.cmdTuples, missing);
  if (!missing.empty()) {
    return Fail(ErrorCode::kUnavailable,
                fmt::format("the installed libpq lacks {}: install libpq5 12 or newer", missing));
  }
  return libs;
}

}  // namespace

Result<const PqLibrary*> LoadPq() { return LoadOnce<PqLibrary, Load>(); }

const PqLibrary& Pq() { return LoadedOrAbort<PqLibrary, Load>(); }

}  // namespace sg
