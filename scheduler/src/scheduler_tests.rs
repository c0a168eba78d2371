// scenario tests
