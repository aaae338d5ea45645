// Separate compilation: Asio, Asio SSL and Beast are compiled once, here, instead of in
// every translation unit that includes them (BOOST_*_SEPARATE_COMPILATION is defined
// for every target that links vp_net).
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
