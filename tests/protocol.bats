#!/usr/bin/env bats
# The wire protocol of PROTOCOL.md, line by line and byte for byte.

load lib/chat

setup() {
	server_start
}

teardown() {
	chat_teardown
}

# --- the greeting ----------------------------------------------------------

@test "a new connection gets the help text, then its name, then joins main" {
	client_connect alice
	client_expect_help alice
	client_expect_next alice "You are *"
	name=${CLIENT_LINE#You are }
	[[ $name =~ ^[A-Z][a-z]+[A-Z][a-z]+$ ]] || _fail "name '$name' is not CamelCase adjective+animal"
	(( ${#name} >= 8 && ${#name} <= 12 )) || _fail "name '$name' is not 8 to 12 characters"
	client_expect_next_exact alice "You joined main"
}

@test "everyone already in main is told a newcomer joined" {
	client_open alice
	client_open bob
	client_open carol
	client_expect_exact alice "$(client_name carol) joined"
	client_expect_exact bob "$(client_name carol) joined"
}

@test "a newcomer is not told about its own arrival" {
	client_open alice
	client_refute_line alice "* joined"
}

# --- text ------------------------------------------------------------------

@test "a message reaches everyone in the room, sender included" {
	client_open alice
	client_open bob
	client_send alice "hello"
	client_expect_exact alice "$(client_name alice): hello"
	client_expect_exact bob "$(client_name alice): hello"
}

@test "a message keeps its inner spaces, tabs and UTF-8 unchanged" {
	client_open alice
	client_open bob
	client_send alice $'h\xc3\xa9llo  w\xc3\xb6rld\t\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7!'
	client_expect_exact bob "$(client_name alice): "$'h\xc3\xa9llo  w\xc3\xb6rld\t\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x90\xa7!'
}

# --- /help -----------------------------------------------------------------

@test "/help sends the help text to the sender" {
	client_open alice
	client_send alice "/help"
	client_expect_help alice
}

@test "/help is not shown to the rest of the room" {
	client_open alice
	client_open bob
	client_expect_exact alice "$(client_name bob) joined"
	client_send alice "/help"
	client_expect_help alice
	client_refute_line bob "Server commands" alice
}

# --- /name -----------------------------------------------------------------

@test "/name renames the user for the whole room, sender included" {
	client_open alice
	client_open bob
	client_send alice "/name Alice"
	client_expect_exact alice "$(client_name alice) is now Alice"
	client_expect_exact bob "$(client_name alice) is now Alice"
}

@test "/name is not announced in other rooms" {
	client_open alice
	client_open bob
	client_open carol
	client_send carol "/join pizza"
	client_expect_exact carol "You joined pizza"
	client_send alice "/name Alice"
	client_expect_exact bob "$(client_name alice) is now Alice"
	client_refute_line carol "* is now *"
}

@test "/name takes 2 to 20 letters, digits, underscores and hyphens" {
	client_open alice
	client_send alice "/name ab"
	client_expect_next_exact alice "$(client_name alice) is now ab"
	client_send alice "/name A_b-9"
	client_expect_next_exact alice "ab is now A_b-9"
	client_send alice "/name abcdefghij0123456789"
	client_expect_next_exact alice "A_b-9 is now abcdefghij0123456789"
	client_send alice "/name 42"
	client_expect_next_exact alice "abcdefghij0123456789 is now 42"
}

@test "/name refuses a name of one character" {
	client_open alice
	client_send alice "/name a"
	client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
}

@test "/name refuses a name of 21 characters" {
	client_open alice
	client_send alice "/name abcdefghij0123456789x"
	client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
}

@test "/name refuses characters other than letters, digits, _ and -" {
	client_open alice
	for bad in "bad!name" "dot.name" "semi;colon" "slash/name" $'h\xc3\xa9llo' "a+b"; do
		client_send alice "/name $bad"
		client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
	done
}

@test "/name without a name is refused" {
	client_open alice
	client_send alice "/name"
	client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
	client_send alice "/name   "
	client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
}

@test "/name refuses a name with a space inside" {
	client_open alice
	client_send alice "/name Bob Smith"
	client_expect_next_exact alice "Name must be 2 - 20 alphanumeric chars"
}

@test "/name trims spaces and tabs around the name" {
	client_open alice
	client_send alice $'/name  \t Alice\t  '
	client_expect_next_exact alice "$(client_name alice) is now Alice"
}

@test "/name refuses a name another user holds" {
	client_open alice
	client_open bob
	client_send bob "/name $(client_name alice)"
	client_expect_next_exact bob "$(client_name alice) is already taken"
}

@test "/name refuses the user's own current name" {
	client_open alice
	client_send alice "/name $(client_name alice)"
	client_expect_next_exact alice "$(client_name alice) is already taken"
}

@test "an old name is free again after a rename" {
	client_open alice
	client_open bob
	client_send alice "/name Alice"
	client_expect_exact bob "$(client_name alice) is now Alice"
	client_send bob "/name $(client_name alice)"
	client_expect_exact bob "$(client_name bob) is now $(client_name alice)"
	client_expect_exact alice "$(client_name bob) is now $(client_name alice)"
}

@test "names are case-sensitive" {
	client_open alice
	client_open bob
	client_send alice "/name Alice"
	client_expect_exact bob "$(client_name alice) is now Alice"
	client_send bob "/name alice"
	client_expect_exact bob "$(client_name bob) is now alice"
	client_send bob "/name ALICE"
	client_expect_exact bob "alice is now ALICE"
}

@test "/namefoo is an unrecognized command, not /name" {
	client_open alice
	client_send alice "/namefoo"
	client_expect_next_exact alice "Unrecognized command /namefoo, try /help"
	client_send alice "/nameAlice"
	client_expect_next_exact alice "Unrecognized command /nameAlice, try /help"
}

# --- /join -----------------------------------------------------------------

@test "/join moves the user to a new room and tells both rooms" {
	client_open alice
	client_open bob
	client_open carol
	client_send carol "/join pizza"
	client_expect_exact carol "You joined pizza"
	client_expect_exact alice "$(client_name carol) left"
	client_send alice "/join pizza"
	client_expect_exact alice "You joined pizza"
	client_expect_exact bob "$(client_name alice) left"
	client_expect_exact carol "$(client_name alice) joined"
}

@test "/join of the current room says so" {
	client_open alice
	client_send alice "/join main"
	client_expect_next_exact alice "You are in main"
}

@test "/join refuses room names that are too short, too long, or have bad characters" {
	client_open alice
	for bad in "x" "abcdefghij0123456789x" "a b" "piz!za" "room.1" ""; do
		client_send alice "/join $bad"
		client_expect_next_exact alice "Room must be 2 - 20 alphanumeric chars"
	done
	client_send alice "/join"
	client_expect_next_exact alice "Room must be 2 - 20 alphanumeric chars"
}

@test "/join trims spaces and tabs around the room" {
	client_open alice
	client_send alice $'/join \t pizza \t'
	client_expect_next_exact alice "You joined pizza"
}

@test "/join takes a room name of 2 and of 20 characters" {
	client_open alice
	client_send alice "/join ab"
	client_expect_next_exact alice "You joined ab"
	client_send alice "/join A-b_0123456789abcdef"
	client_expect_next_exact alice "You joined A-b_0123456789abcdef"
}

# --- /rooms ----------------------------------------------------------------

@test "/rooms lists every room with its member count" {
	client_open alice
	client_open bob
	client_open carol
	client_send carol "/join pizza"
	client_expect_exact carol "You joined pizza"
	client_send carol "/rooms"
	client_expect_next_exact carol "Rooms - main (2), pizza (1)"
}

@test "/rooms orders by member count, then by name in byte order" {
	clients_open m1 m2 m3 b1 b2 r1 r2 r3 r4
	client_send b1 "/join beta"
	client_send b2 "/join beta"
	client_send r1 "/join Zeta"
	client_send r2 "/join _under"
	client_send r3 "/join alpha"
	client_send r4 "/join 9lives"
	client_expect_exact b1 "You joined beta"
	client_expect_exact b2 "You joined beta"
	client_expect_exact r1 "You joined Zeta"
	client_expect_exact r2 "You joined _under"
	client_expect_exact r3 "You joined alpha"
	client_expect_exact r4 "You joined 9lives"
	client_send m1 "/rooms"
	client_expect_exact m1 "Rooms - main (3), beta (2), 9lives (1), Zeta (1), _under (1), alpha (1)"
}

@test "/rooms ignores words after it" {
	client_open alice
	client_send alice "/rooms x y"
	client_expect_next_exact alice "Rooms - main (1)"
}

@test "a room disappears when its last member leaves it" {
	client_open alice
	client_send alice "/join pizza"
	client_expect_next_exact alice "You joined pizza"
	client_send alice "/rooms"
	client_expect_next_exact alice "Rooms - pizza (1)"
	client_send alice "/join main"
	client_expect_next_exact alice "You joined main"
	client_send alice "/rooms"
	client_expect_next_exact alice "Rooms - main (1)"
}

@test "a room disappears when its last member disconnects" {
	client_open alice
	client_open bob
	client_send bob "/join pizza"
	client_expect_exact alice "$(client_name bob) left"
	client_send alice "/rooms"
	client_expect_exact alice "Rooms - main (1), pizza (1)"
	client_send bob "/quit"
	client_expect_closed bob
	client_eventually alice "/rooms" "Rooms - *" "Rooms - main (1)"
}

# --- /users ----------------------------------------------------------------

@test "/users lists the members of the sender's room in byte order" {
	clients_open a b c d e other
	client_send a "/name alice"
	client_send b "/name Bob"
	client_send c "/name _carol"
	client_send d "/name Dave9"
	client_send e "/name 9eve"
	client_send other "/join elsewhere"
	client_expect_exact a "$(client_name a) is now alice"
	client_expect_exact b "$(client_name b) is now Bob"
	client_expect_exact c "$(client_name c) is now _carol"
	client_expect_exact d "$(client_name d) is now Dave9"
	client_expect_exact e "$(client_name e) is now 9eve"
	client_expect_exact other "You joined elsewhere"
	client_send a "/users"
	client_expect_exact a "Users - 9eve, Bob, Dave9, _carol, alice"
}

@test "/users ignores words after it" {
	client_open alice
	client_send alice "/users everyone"
	client_expect_next_exact alice "Users - $(client_name alice)"
}

@test "/help and /quit ignore words after them too" {
	client_open alice
	client_open bob
	client_expect_exact alice "$(client_name bob) joined"
	client_send alice "/help me"
	client_expect_help alice
	client_send alice "/quit now please"
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

# --- /quit and hanging up --------------------------------------------------

@test "/quit closes the connection and the room is told the user left" {
	client_open alice
	client_open bob
	client_send alice "/quit"
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

@test "a client that hangs up is announced as left and its name is free" {
	client_open alice
	client_open bob
	client_close alice
	client_expect_exact bob "$(client_name alice) left"
	client_send bob "/name $(client_name alice)"
	client_expect_next_exact bob "$(client_name bob) is now $(client_name alice)"
}

# --- unknown commands ------------------------------------------------------

@test "an unknown command is answered with its first word" {
	client_open alice
	client_send alice "/other words here"
	client_expect_next_exact alice "Unrecognized command /other, try /help"
}

@test "a lone slash is an unrecognized command" {
	client_open alice
	client_send alice "/"
	client_expect_next_exact alice "Unrecognized command /, try /help"
}

# --- line length -----------------------------------------------------------

@test "a line of 400 bytes is accepted" {
	client_open alice
	client_open bob
	line=$(repeat x 400)
	client_send alice "$line"
	client_expect_exact bob "$(client_name alice): $line"
}

@test "a line of 401 bytes is refused to the sender alone, who can go on" {
	client_open alice
	client_open bob
	client_expect_exact alice "$(client_name bob) joined"
	client_send alice "$(repeat x 401)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	client_send alice "still here"
	client_expect_next_exact alice "$(client_name alice): still here"
	client_refute_line bob "*xxxx*" alice
}

@test "a line far over the limit is discarded as a whole, with one error" {
	client_open alice
	client_send alice "$(repeat x 20000)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
	client_send alice "still here"
	client_expect_next_exact alice "$(client_name alice): still here"
}

@test "the line limit counts bytes, not characters" {
	client_open alice
	client_send alice "$(repeat $'\xc3\xa9' 200)"
	client_expect_next_exact alice "$(client_name alice): $(repeat $'\xc3\xa9' 200)"
	client_send alice "$(repeat $'\xc3\xa9' 201)"
	client_expect_next_exact alice "Messages can only be 400 chars long"
}

@test "the line limit and its error follow MaxLineLength" {
	server_restart "MaxLineLength 50"
	client_open alice
	client_send alice "$(repeat y 50)"
	client_expect_next_exact alice "$(client_name alice): $(repeat y 50)"
	client_send alice "$(repeat y 51)"
	client_expect_next_exact alice "Messages can only be 50 chars long"
}

# --- line ends and bytes ---------------------------------------------------

@test "CRLF line ends are taken without the CR, for text and commands" {
	client_open alice
	client_open bob
	client_send_raw alice 'hello\r\n'
	client_expect_exact bob "$(client_name alice): hello"
	client_send_raw alice '/name Alice\r\n'
	client_expect_exact bob "$(client_name alice) is now Alice"
}

@test "the CR of a CRLF does not count towards the line limit" {
	client_open alice
	client_send_raw alice '%s\r\n' "$(repeat z 400)"
	client_expect_next_exact alice "$(client_name alice): $(repeat z 400)"
}

@test "control bytes are removed from a message before anyone sees it" {
	client_open alice
	client_open bob
	client_send_raw alice 'he\033[31mllo\007 wor\177ld\001\n'
	client_expect_exact bob "$(client_name alice): he[31mllo world"
	client_expect_exact alice "$(client_name alice): he[31mllo world"
}

@test "a NUL byte is removed like any other control byte" {
	client_open alice
	client_open bob
	client_send_raw alice 'hel\000lo\n'
	client_expect_exact bob "$(client_name alice): hello"
}

@test "a line of only control bytes is ignored" {
	client_open alice
	client_open bob
	client_send_raw alice '\033\007\001\177\n'
	client_refute_line bob "$(client_name alice):*" alice
	client_refute_line alice "$(client_name alice):*"
}

@test "a line that is not valid UTF-8 ends the session like /quit" {
	client_open alice
	client_open bob
	client_send_raw alice 'caf\351\n'
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

@test "overlong encodings and surrogates are not valid UTF-8 either" {
	client_open alice
	client_open bob
	client_open carol
	client_send_raw alice 'over\300\257long\n'
	client_expect_closed alice
	client_expect_exact carol "$(client_name alice) left"
	client_send_raw bob 'surrogate \355\240\200\n'
	client_expect_closed bob
	client_expect_exact carol "$(client_name bob) left"
}

@test "a telnet interrupt (IAC IP) ends the session, even without a line end" {
	client_open alice
	client_open bob
	client_send_raw alice '\377\364'
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

@test "a line of only ^C ends the session" {
	client_open alice
	client_open bob
	client_send_raw alice '\003\n'
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

@test "a line of only ^D ends the session" {
	client_open alice
	client_open bob
	client_send_raw alice '\004\r\n'
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice) left"
}

# --- order -----------------------------------------------------------------

@test "a message and a command sent in one write are answered in order" {
	client_open alice
	client_send_raw alice 'hello\n/rooms\n'
	client_expect_next_exact alice "$(client_name alice): hello"
	client_expect_next_exact alice "Rooms - main (1)"
}

@test "/name then /join in one write: the rename comes first" {
	client_open alice
	client_send_raw alice '/name Xavier\n/join yard\n'
	client_expect_next_exact alice "$(client_name alice) is now Xavier"
	client_expect_next_exact alice "You joined yard"
}

@test "/join of a new room when MaxRooms rooms exist is refused" {
	server_restart "MaxRooms 2"
	clients_open alice bob
	client_send alice "/join pizza"
	client_expect_exact alice "You joined pizza"
	client_send bob "/join pasta"
	client_expect_exact bob "Too many rooms, try again later"
	client_send bob "/users"
	client_expect_exact bob "Users - $(client_name bob)"
	# an existing room can still be joined
	client_send bob "/join pizza"
	client_expect_exact bob "You joined pizza"
}

@test "a user who quits right after a line still sees that line first" {
	client_open alice
	client_open bob
	client_send_raw alice 'last words\n/quit\n'
	client_expect_exact alice "$(client_name alice): last words"
	client_expect_closed alice
	client_expect_exact bob "$(client_name alice): last words"
	client_expect_exact bob "$(client_name alice) left"
}

@test "a client that sends a line and hangs up gets its echo before the close" {
	run timeout 20 sh -c "printf 'hello\n' | nc -N 127.0.0.1 $PORT"
	[ "$status" -eq 0 ]
	[[ ${lines[7]} == "You are "* ]]
	name=${lines[7]#You are }
	[ "${lines[8]}" = "You joined main" ]
	[ "${lines[9]}" = "$name: hello" ]
	[ "${#lines[@]}" -eq 10 ]
}

@test "a command word ends at a space only: /name<TAB>x is unrecognized" {
	client_open alice
	client_send_raw alice '/name\tTabby\n'
	client_expect_next_exact alice "$(printf 'Unrecognized command /name\tTabby, try /help')"
}
