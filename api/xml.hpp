#pragma once
// Building the XML answers of AWS's XML protocols (S3's REST-XML, STS's query protocol) with
// pugixml, which escapes what we put in.

#include <string>
#include <string_view>

#include <pugixml.hpp>

namespace smlocal::api {

/// The document as sent: an XML declaration, then the elements without indentation.
std::string xml_text(const pugi::xml_document& doc);
/// The document's root element, in the service's namespace.
pugi::xml_node add_xml_root(pugi::xml_document& doc, const char* name, const char* xml_namespace);
/// <name>value</name> under `parent`.
void add_xml_text(pugi::xml_node parent, const char* name, std::string_view value);

}  // namespace smlocal::api
