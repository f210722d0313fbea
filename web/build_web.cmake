# Lays out the web page for the api-gateway to serve: run by the `web_assets` target as
#
#   cmake -DSRC=web/src -DMODULES=web/node_modules -DOUT=BUILD/share/streamgate/web -P build_web.cmake
#
# Every asset (web/src's CSS, scripts and images, and the two libraries' minified files from npm:
# tus-js-client and hls.js) is written to OUT/assets as NAME.<first 12 hex digits of its SHA-256>.EXT,
# so that it can be cached for ever; index.html (OUT/index.html, never cached) and the modules'
# imports are rewritten to name them. A module's hash covers its rewritten imports, so a change
# to any module renames every module that imports it. No network: the libraries come from
# web/node_modules, which `scripts/install-deps.sh` fills from the committed package-lock.json.
cmake_minimum_required(VERSION 3.25)

foreach(var SRC MODULES OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "build_web.cmake: give -D${var}=...")
  endif()
endforeach()

set(libraries
    "tus.min.js=${MODULES}/tus-js-client/dist/tus.min.js"
    "hls.min.js=${MODULES}/hls.js/dist/hls.min.js")
foreach(entry IN LISTS libraries)
  string(REGEX REPLACE "^[^=]*=" "" path "${entry}")
  if(NOT EXISTS "${path}")
    message(FATAL_ERROR
      "build_web.cmake: ${path} is missing: the web page's libraries come from npm. "
      "Run scripts/install-deps.sh (it runs `npm ci` in web/), then build again.")
  endif()
endforeach()

file(REMOVE_RECURSE "${OUT}")
file(MAKE_DIRECTORY "${OUT}/assets")

set(names "")   # asset names as written in the sources
set(hashed "")  # the same, hashed, in the same order

# Writes `content` as the hashed name of `name` and records the pair.
function(emit name content)
  string(SHA256 sum "${content}")
  string(SUBSTRING "${sum}" 0 12 short)
  string(REGEX MATCH "\\.[^.]+$" ext "${name}")
  string(REGEX REPLACE "\\.[^.]+$" "" stem "${name}")
  set(out "${stem}.${short}${ext}")
  file(WRITE "${OUT}/assets/${out}" "${content}")
  set(names ${names} "${name}" PARENT_SCOPE)
  set(hashed ${hashed} "${out}" PARENT_SCOPE)
endfunction()

# The libraries, without their source map comments (the maps are not served).
foreach(entry IN LISTS libraries)
  string(REGEX MATCH "^[^=]*" name "${entry}")
  string(REGEX REPLACE "^[^=]*=" "" path "${entry}")
  file(READ "${path}" content)
  string(REGEX REPLACE "\n?//# sourceMappingURL=[^\n]*\n?$" "\n" content "${content}")
  emit("${name}" "${content}")
endforeach()

file(GLOB sources RELATIVE "${SRC}" "${SRC}/*")
list(SORT sources)
set(modules "")
foreach(name IN LISTS sources)
  if(NOT name MATCHES "^[A-Za-z0-9_-]+\\.(html|css|js|svg|png|ico|json)$")
    message(FATAL_ERROR "build_web.cmake: web/src/${name}: an asset's name is letters, digits, "
                        "'-' and '_' with one of the extensions .html .css .js .svg .png .ico .json")
  endif()
  if(name STREQUAL "index.html")
    continue()
  elseif(name MATCHES "\\.js$")
    list(APPEND modules "${name}")
  elseif(name MATCHES "\\.(png|ico)$")
    # Binary: copied as it is, named by the file's hash.
    file(SHA256 "${SRC}/${name}" sum)
    string(SUBSTRING "${sum}" 0 12 short)
    string(REGEX MATCH "\\.[^.]+$" ext "${name}")
    string(REGEX REPLACE "\\.[^.]+$" "" stem "${name}")
    file(COPY_FILE "${SRC}/${name}" "${OUT}/assets/${stem}.${short}${ext}")
    list(APPEND names "${name}")
    list(APPEND hashed "${stem}.${short}${ext}")
  else()
    file(READ "${SRC}/${name}" content)
    emit("${name}" "${content}")
  endif()
endforeach()

# The modules, each once every module it imports has its hashed name: leaves first.
while(modules)
  set(progress FALSE)
  set(pending "")
  foreach(name IN LISTS modules)
    file(READ "${SRC}/${name}" content)
    string(REGEX MATCHALL "from '\\./[A-Za-z0-9_-]+\\.js'" imports "${content}")
    set(ready TRUE)
    foreach(import IN LISTS imports)
      string(REGEX REPLACE "^from '\\./(.*)'$" "\\1" dep "${import}")
      if(NOT EXISTS "${SRC}/${dep}")
        message(FATAL_ERROR "build_web.cmake: web/src/${name} imports ./${dep}, which is not there")
      endif()
      list(FIND names "${dep}" at)
      if(at LESS 0)
        set(ready FALSE)
      else()
        list(GET hashed ${at} dep_hashed)
        string(REPLACE "from './${dep}'" "from './${dep_hashed}'" content "${content}")
      endif()
    endforeach()
    if(ready)
      emit("${name}" "${content}")
      set(progress TRUE)
    else()
      list(APPEND pending "${name}")
    endif()
  endforeach()
  if(NOT progress)
    message(FATAL_ERROR "build_web.cmake: these modules import each other in a cycle: ${pending}")
  endif()
  set(modules ${pending})
endwhile()

# index.html names every asset as "/assets/NAME"; each must exist.
file(READ "${SRC}/index.html" page)
string(REGEX MATCHALL "\"/assets/[^\"]+\"" refs "${page}")
foreach(ref IN LISTS refs)
  string(REGEX REPLACE "^\"/assets/(.*)\"$" "\\1" name "${ref}")
  list(FIND names "${name}" at)
  if(at LESS 0)
    message(FATAL_ERROR "build_web.cmake: index.html names /assets/${name}, which is not an asset")
  endif()
  list(GET hashed ${at} out)
  string(REPLACE "\"/assets/${name}\"" "\"/assets/${out}\"" page "${page}")
endforeach()
file(WRITE "${OUT}/index.html" "${page}")
list(LENGTH names count)
message(STATUS "web page: index.html and ${count} assets in ${OUT}")
