#!/usr/bin/perl
# tests/lib/connections.pl: open many connections to chatd at once, from one
# process, and report what each one was told first.
#
#	perl connections.pl -p PORT -n COUNT [-s SOURCE] [-t SECONDS] [-H]
#
# All COUNT connects are started without waiting (non-blocking), then every
# socket is read up to its first line.  A connection counts as "served" once
# it got "You joined main" (it is then held open until every connection is
# accounted for, so the served ones keep their slots), as "full" or
# "per_ip" when its first line was the server's refusal and the server then
# closed it, as "other" for anything else and "timeout" if the deadline came
# first.  One line on stdout:
#
#	served=50 full=1950 per_ip=0 other=0 timeout=0
#
# Exit status 0 when every connection was accounted for before the deadline.
#
# With -H the served connections are held open after the tally line is
# printed (and flushed), until stdin reaches EOF; then they are closed and
# the script exits as above.  Give it a FIFO the test keeps open, wait for
# the tally line, and close the FIFO to hang them all up at once.
use strict;
use warnings;
use Errno qw(EINPROGRESS EAGAIN EWOULDBLOCK);
use Getopt::Std;
use IO::Poll qw(POLLIN POLLOUT POLLERR POLLHUP);
use Socket;
use Time::HiRes qw(time);

my %opt;
getopts('p:n:s:t:H', \%opt) or die "usage: connections.pl -p PORT -n COUNT [-s SOURCE] [-t SECONDS] [-H]\n";
my $port = $opt{p} or die "connections.pl: -p PORT is required\n";
my $count = $opt{n} // 1;
my $deadline = time + ($opt{t} // 60);

my (%sock, %buf, %state);	# by fileno
my %tally = (served => 0, full => 0, per_ip => 0, other => 0, timeout => 0);
my $poll = IO::Poll->new;

for my $i (1 .. $count) {
	socket(my $s, PF_INET, SOCK_STREAM, 0) or die "connections.pl: socket: $!\n";
	if (defined $opt{s}) {
		bind($s, pack_sockaddr_in(0, inet_aton($opt{s})))
		    or die "connections.pl: bind $opt{s}: $!\n";
	}
	$s->blocking(0);
	if (!connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1')))
	    && $! != EINPROGRESS) {
		die "connections.pl: connect: $!\n";
	}
	my $fd = fileno($s);
	$sock{$fd} = $s;
	$buf{$fd} = '';
	$state{$fd} = 'open';
	$poll->mask($s => POLLIN);
}

sub settle {
	my ($fd, $what) = @_;
	$tally{$what}++;
	$state{$fd} = $what;
	if ($what ne 'served') {
		$poll->remove($sock{$fd});
		close($sock{$fd});
	} else {
		$poll->remove($sock{$fd});	# held open, read no more
	}
}

my $left = $count;
while ($left > 0 && time < $deadline) {
	$poll->poll(0.5);
	for my $s ($poll->handles(POLLIN | POLLERR | POLLHUP)) {
		my $fd = fileno($s);
		my $n = sysread($s, my $chunk, 65536);
		if (!defined $n) {
			next if $! == EAGAIN || $! == EWOULDBLOCK;
			settle($fd, 'other');
			$left--;
			next;
		}
		if ($n > 0) {
			$buf{$fd} .= $chunk;
			if ($buf{$fd} =~ /^You joined main$/m) {
				settle($fd, 'served');
				$left--;
			}
			next;
		}
		# EOF: what was the connection told before it was closed?
		if ($buf{$fd} eq "Server is full, try again later\n") {
			settle($fd, 'full');
		} elsif ($buf{$fd} eq "Too many connections from your address\n") {
			settle($fd, 'per_ip');
		} else {
			print STDERR "connections.pl: closed after: $buf{$fd}\n";
			settle($fd, 'other');
		}
		$left--;
	}
}
$tally{timeout} = $left;
$| = 1;
print join(' ', map { "$_=$tally{$_}" } qw(served full per_ip other timeout)), "\n";
if ($opt{H}) {
	# held until EOF; exiting closes them
	1 while sysread(STDIN, my $junk, 4096);
}
exit($left == 0 ? 0 : 1);
