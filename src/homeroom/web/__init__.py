"""What the gate and the school share on the web: language, words, pages, cookies, bodies, errors."""
